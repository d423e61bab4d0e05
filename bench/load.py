"""Load generators over pre-signed requests.

- `replay`: closed loop, as fast as the server answers, with wrk and bench/wrk_replay.lua;
  every request is sent exactly once, so each 2xx can be matched to an inbox row.
- `open_loop`: constant arrival rate (wrk cannot pace, and wrk2 is not packaged), a small
  asyncio client over keep-alive connections. Latency is measured from each request's
  *scheduled* time, so a stalled server cannot hide its queue (no coordinated omission).
"""

import asyncio
import json
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import REAL_APP, free_port, log, percentile
from bench.payloads import Webhook, write_requests
from bench.processes import children, cpu_seconds, gunicorn

LUA = Path(__file__).with_name("wrk_replay.lua")
STALL_SECONDS = 60


def require_wrk() -> str:
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk is not installed: run `apt-get install -y wrk` (Debian package)")
    return path


def _await_wrk(proc: subprocess.Popen, threads: int) -> str:
    """Stop wrk (SIGINT: it prints its summary) once every thread is done, or nothing has
    been answered for STALL_SECONDS; return its stdout."""
    last_progress = [time.monotonic()]

    def watchdog() -> None:
        while proc.poll() is None:
            time.sleep(1)
            if time.monotonic() - last_progress[0] > STALL_SECONDS:
                log(f"no answers for {STALL_SECONDS} s: stopping wrk, the run is incomplete")
                proc.send_signal(signal.SIGINT)
                return

    threading.Thread(target=watchdog, daemon=True).start()
    finished = 0
    for line in proc.stderr:
        last_progress[0] = time.monotonic()
        finished += "wrk-thread-done" in line
        if finished == threads:
            proc.send_signal(signal.SIGINT)
    out = proc.stdout.read()
    proc.wait()
    return out


def replay(port: int, webhooks: list[Webhook], threads: int = 1, connections: int = 50) -> dict:
    """Send each request once with wrk; return status counts, wall seconds and rates.

    One wrk thread by default: it keeps up with a 2-core server, and threads that run dry at
    different times leave idle connections that gunicorn's gthread worker would close and
    then park a thread on when wrk reconnects them, skewing the tail of the run."""
    wrk = require_wrk()
    connections = min(connections, len(webhooks))
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        size = -(-len(webhooks) // threads)
        for t in range(threads):
            write_requests(Path(tmp) / f"requests.{t}", webhooks[t * size : (t + 1) * size])
        options = f"-t {threads} -c {connections} -d 3600s --timeout 30s -s {LUA}"
        argv = [wrk, *options.split(), f"http://127.0.0.1:{port}/", "--", tmp]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out = _await_wrk(proc, threads)
    line = next((x for x in out.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk produced no result:\n{out}")
    result = json.loads(line.removeprefix("BENCH_JSON "))
    if result["received"] < result["total"]:
        log(f"WARNING: only {result['received']} of {result['total']} requests were answered")
    result["started_at"] = result.pop("first_us") / 1e6  # epoch seconds, like the database's
    result["finished_at"] = result.pop("last_us") / 1e6
    seconds = result["finished_at"] - result["started_at"]
    statuses = {int(k): v for k, v in result["statuses"].items()}
    ok = sum(n for code, n in statuses.items() if 200 <= code < 300)
    return {
        **result,
        "statuses": statuses,
        "seconds": round(seconds, 3),
        "2xx": ok,
        "requests_per_s": round(result["received"] / seconds, 1),
        "2xx_per_s": round(ok / seconds, 1),
    }


@dataclass
class Sample:
    webhook: Webhook
    scheduled: float  #: perf_counter() when it was due
    sent: float = 0.0
    done: float = 0.0
    status: int = 0


def open_loop(port: int, schedule: list[tuple[float, Webhook]], pool: int = 32) -> list[Sample]:
    """Send each webhook at its offset (seconds from start); returns one Sample per request."""
    return asyncio.run(_open_loop(port, schedule, pool))


async def _open_loop(port: int, schedule, pool: int) -> list[Sample]:
    idle: asyncio.Queue = asyncio.Queue()
    for _ in range(pool):  # open (and warm) the pool before the clock starts
        idle.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    start = time.perf_counter() + 0.1
    samples = [Sample(webhook, start + offset) for offset, webhook in schedule]
    tasks = []
    for sample in samples:
        wait = sample.scheduled - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(_send(port, idle, sample)))
    await asyncio.gather(*tasks)
    while not idle.empty():
        idle.get_nowait()[1].close()
    return samples


async def _send(port: int, idle: asyncio.Queue, sample: Sample) -> None:
    conn = idle.get_nowait() if not idle.empty() else None
    for _attempt in range(3):  # a kept-alive connection the server closed: use a fresh one
        conn = conn or await asyncio.open_connection("127.0.0.1", port)
        sample.sent = sample.sent or time.perf_counter()
        try:
            sample.status, keep = await _exchange(conn, sample.webhook.raw)
        except (ConnectionError, asyncio.IncompleteReadError):
            conn[1].close()
            conn = None
            continue
        sample.done = time.perf_counter()
        if keep:
            idle.put_nowait(conn)
        else:
            conn[1].close()
        return


async def _exchange(conn, raw: bytes) -> tuple[int, bool]:
    reader, writer = conn
    writer.write(raw)
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
    length = 0
    for line in head.split("\r\n"):
        if line.startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    await reader.readexactly(length)
    return int(head[9:12]), "connection: close" not in head


def latency_summary(samples: list[Sample]) -> dict:
    """p50/p99/max of ack latency (from the scheduled time) and of the client's own lag."""
    answered = [s for s in samples if s.done]
    acks = [(s.done - s.scheduled) * 1000 for s in answered]
    lag = [(s.sent - s.scheduled) * 1000 for s in answered]
    statuses: dict[int, int] = {}
    for s in samples:
        statuses[s.status] = statuses.get(s.status, 0) + 1
    span = max(s.done for s in answered) - min(s.scheduled for s in samples) if answered else 0
    return {
        "requests": len(samples),
        "answered": len(answered),
        "statuses": statuses,
        "achieved_per_s": round(len(answered) / span, 1) if span else 0,
        "ack_p50_ms": round(percentile(acks, 50), 2),
        "ack_p99_ms": round(percentile(acks, 99), 2),
        "ack_max_ms": round(max(acks, default=float("nan")), 2),
        "client_lag_p99_ms": round(percentile(lag, 99), 2),
    }


def constant_rate(webhooks: list[Webhook], rate: float) -> list[tuple[float, Webhook]]:
    return [(i / rate, webhook) for i, webhook in enumerate(webhooks)]


def report_replay(label: str, result: dict) -> None:
    log(
        f"{label}: {result['received']} requests in {result['seconds']} s = "
        f"{result['requests_per_s']}/s, 2xx {result['2xx_per_s']}/s, "
        f"statuses {result['statuses']}, p99 {result['p99_us'] / 1000:.1f} ms, "
        f"errors {result['errors']}"
        + (
            f", web CPU {result['web_cpu_ms_per_request']} ms/request"
            if "web_cpu_ms_per_request" in result
            else ""
        )
    )


def replay_against(
    app: str, env: dict, warmup: list[Webhook], webhooks: list[Webhook], **wrk
) -> tuple[dict, dict]:
    """Start `app` under the bench gunicorn, replay `warmup` then `webhooks`; both results."""
    name = "ordertrack" if app == REAL_APP else "bare"
    port = free_port()
    with gunicorn(app, env, port) as web:
        warm = replay(port, warmup, **wrk)
        report_replay(f"{name} warm-up", warm)
        workers = children(web.pid)
        before = [cpu_seconds([pid]) for pid in workers]
        main = replay(port, webhooks, **wrk)
        used = [cpu_seconds([pid]) - b for pid, b in zip(workers, before, strict=True)]
        #: CPU per request, and how it split over the workers (gthread balances poorly)
        main["web_cpu_ms_per_request"] = round(sum(used) * 1000 / max(1, main["received"]), 3)
        main["web_worker_cpu_s"] = [round(u, 2) for u in used]
        report_replay(f"{name} load", main)
    return warm, main
