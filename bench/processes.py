"""The processes under test, started and stopped by the benchmarks: gunicorn (the same command
line for ordertrack and the bare app), `ordertrack worker` or bench.noop_worker, plus what
/proc says about them (children, CPU seconds, RSS).

Each runs in its own session with its output in bench/results/logs/<name>.log, and is stopped
by its own pid: SIGTERM, then SIGKILL to that process group for stragglers only.
"""

import contextlib
import http.client
import os
import signal
import subprocess
from pathlib import Path

from bench.common import (
    BARE_APP,
    BIN,
    GUNICORN_EXTRA,
    LOGS,
    QUEUE_NAMESPACE,
    ROOT,
    log,
    redis_client,
    sql,
    wait_until,
)


@contextlib.contextmanager
def started(name: str, argv: list, env: dict[str, str]):
    """Run `argv` in its own session with output in bench/results/logs/<name>.log."""
    LOGS.mkdir(parents=True, exist_ok=True)
    with open(LOGS / f"{name}.log", "wb") as out:
        proc = subprocess.Popen(
            [str(a) for a in argv],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            stop(proc)


def stop(proc: subprocess.Popen, grace: float = 20) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            log(f"pid {proc.pid} ignored SIGTERM for {grace:.0f} s: SIGKILL")
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # our own session: stragglers only
    proc.wait()


@contextlib.contextmanager
def gunicorn(app: str, env: dict[str, str], port: int, workers: int = 2, threads: int = 32):
    """The one gunicorn command line used for the real receiver and the bare app alike."""
    options = (
        f"-w {workers} -k gthread --threads {threads} -b 127.0.0.1:{port} --timeout 30"
        f" --keep-alive 5 --reuse-port --log-level warning {GUNICORN_EXTRA}"
    )
    argv = [BIN / "gunicorn", *options.split(), app]
    name = "web-bare" if app == BARE_APP else "web-ordertrack"
    with started(name, argv, env) as proc:
        wait_http(port, proc)
        wait_until(lambda: len(children(proc.pid)) >= workers, 30, "gunicorn workers")
        yield proc


@contextlib.contextmanager
def queue_worker(env: dict[str, str], processes: int = 1, threads: int = 8, noop: bool = False):
    """`ordertrack worker` (or bench.noop_worker), ready once each process polls Redis."""
    argv = [BIN / "ordertrack", "worker", "--processes", processes]
    if noop:
        argv, processes = [BIN / "python", "-m", "bench.noop_worker"], 1
    name = "worker-noop" if noop else "worker-ordertrack"
    before = heartbeats()
    with started(name, [*argv, "--threads", threads], env) as proc:
        wait_until(
            lambda: len(heartbeats() - before) >= processes or proc.poll() is not None,
            60,
            f"{name} to start",
        )
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}; see {LOGS / name}.log")
        yield proc


def heartbeats() -> set[bytes]:
    """Broker ids that have talked to Redis: every fetch (and enqueue) refreshes its entry."""
    return set(redis_client().zrange(f"{QUEUE_NAMESPACE}:__heartbeats__", 0, -1))


def wait_http(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    """Wait until something answers HTTP on `port` (any status), or the process dies."""

    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"pid {proc.pid} exited with {proc.returncode}; see {LOGS}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/__bench_ready")
            conn.getresponse().read()
            return True
        except OSError:
            return False

    wait_until(answers, timeout, f"HTTP on port {port}", interval=0.2)


def children(pid: int) -> list[int]:
    """Direct children of `pid` (Linux /proc)."""
    kids = []
    with contextlib.suppress(FileNotFoundError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            kids += [int(p) for p in (task / "children").read_text().split()]
    return kids


def descendants(pid: int) -> list[int]:
    kids = children(pid)
    return kids + [grandchild for kid in kids for grandchild in descendants(kid)]


def process_rss(pids: list[int]) -> list[dict]:
    """[{pid, cmd, rss_mb}] from /proc, skipping processes that are gone."""
    found = []
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            found.append({"pid": pid, "cmd": cmd[:120], "rss_mb": round(rss_mb(pid), 1)})
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the processes have used so far (/proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def backend_cpu(db: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving `db` (not the poller's own), by
    pid: where a bigger database costs more, it is often the server's work, not Python's.
    Empty unless PostgreSQL runs on this machine."""
    rows = sql(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s"
        " AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
        db,
        db=db,
    )
    return {pid: cpu_seconds([pid]) for (pid,) in rows}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
