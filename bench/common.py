"""Shared helpers: the bench environment, a fresh database and Redis db, the processes under
test (gunicorn, `ordertrack worker`, `dramatiq`), readiness waits, RSS, and result files.

Every benchmark runs its processes as subprocesses in their own session and stops them by
their own pid (SIGTERM, then SIGKILL to that process group), so nothing else on the host is
touched. Override the targets with BENCH_PG_ADMIN_URL, BENCH_DB and BENCH_REDIS_URL.
"""

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
RESULTS = ROOT / "bench" / "results"
LOGS = RESULTS / "logs"

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://root@127.0.0.1:5432/test")
DB_NAME = os.environ.get("BENCH_DB", "ordertrack_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
SECRETS = {"shopify": "bench-shopify-secret", "easypost": "bench-easypost-secret"}
REAL_APP = "service.wsgi:app"
BARE_APP = "bench.bare_app:app"


def app_spec(name: str) -> str:
    """"ordertrack" or "bare" -> the WSGI app gunicorn serves."""
    return {"ordertrack": REAL_APP, "bare": BARE_APP}[name]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def db_url(driver: str = "postgresql+psycopg") -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0].split("://", 1)[1]
    return f"{driver}://{base}/{DB_NAME}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(smtp_port: int = 2525, web_port: int = 8000, **extra: str) -> dict[str, str]:
    """The environment every ordertrack process (and the bare app) gets."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=db_url(),
        REDIS_URL=REDIS_URL,
        WEBHOOK_SECRET_SHOPIFY=SECRETS["shopify"],
        WEBHOOK_SECRET_EASYPOST=SECRETS["easypost"],
        API_TOKEN="bench-api-token",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_port),
        SMTP_FROM="ordertrack-bench@example.test",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{web_port}",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


# --- state ----------------------------------------------------------------------------


def reset_state(env: dict[str, str]) -> None:
    """Drop and recreate the bench database, migrate it, and empty the bench Redis db."""
    import psycopg
    import redis

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    subprocess.run([BIN / "ordertrack", "migrate"], cwd=ROOT, env=env, check=True)
    redis.Redis.from_url(REDIS_URL).flushdb()


def sql(query: str, *params) -> list[tuple]:
    import psycopg

    with psycopg.connect(db_url("postgresql")) as conn:
        return conn.execute(query, params).fetchall()


def inbox_counts() -> dict[str, int]:
    return dict(sql("SELECT status, count(*) FROM inbox GROUP BY status"))


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05) -> float:
    """Poll `predicate` until true; return the seconds it took. Raise TimeoutError after `timeout`."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - start


# --- processes ------------------------------------------------------------------------


@contextlib.contextmanager
def started(name: str, argv: list, env: dict[str, str]):
    """Run `argv` in its own session with output in bench/results/logs/<name>.log."""
    LOGS.mkdir(parents=True, exist_ok=True)
    with open(LOGS / f"{name}.log", "wb") as out:
        proc = subprocess.Popen(
            [str(a) for a in argv], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
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
def gunicorn(app: str, env: dict[str, str], port: int, workers: int = 2, threads: int = 8):
    """The one gunicorn command line used for the real receiver and the bare app alike."""
    argv = [BIN / "gunicorn", "-w", workers, "-k", "gthread", "--threads", threads,
            "-b", f"127.0.0.1:{port}", "--timeout", "30", "--log-level", "warning", app]  # fmt: skip
    name = "web-bare" if app == BARE_APP else "web-ordertrack"
    with started(name, argv, env) as proc:
        wait_http(port, proc)
        wait_until(lambda: len(children(proc.pid)) >= workers, 30, "gunicorn workers")
        yield proc


@contextlib.contextmanager
def queue_worker(env: dict[str, str], processes: int = 1, threads: int = 8, module: str = ""):
    """`ordertrack worker`, or `dramatiq <module>` if given; ready when every child says so."""
    argv = [BIN / "ordertrack", "worker"]
    if module:
        argv = [BIN / "dramatiq", module]
    argv += ["--processes", processes, "--threads", threads]
    name = f"worker-{module or 'ordertrack'}"
    with started(name, argv, env) as proc:
        logfile = LOGS / f"{name}.log"
        ready = "is ready for action"
        wait_until(lambda: logfile.read_text(errors="replace").count(ready) >= processes
                   or proc.poll() is not None, 60, f"{name} to start")  # fmt: skip
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}; see {logfile}")
        yield proc


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


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- figures --------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, round(pct / 100 * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]


def finish(name: str, label: str, figure: float, op: str, target: float, details: dict) -> dict:
    """Print the headline figure against its target and write bench/results/<name>.json."""
    met = figure >= target if op == ">=" else figure <= target
    result = {"benchmark": name, "label": label, "figure": round(figure, 4),
              "target": f"{op} {target}", "met": met, "details": details}  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps(details, indent=2, default=str))
    print(f"==> {label}: {figure:.4g} (target {op} {target}): {'MET' if met else 'NOT MET'}")
    return result
