"""Worker processes under a tiny supervisor: Dramatiq's own CLI exits when one child dies
(docs/reliability.md, "Dramatiq on Redis"), so here a dead child is replaced and the rest keep
working. What runs in each child (settings, logging, runtime) is the caller's: entry/
composes a worker process, this module only keeps them alive."""

import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable

import dramatiq

from workers import metrics

log = logging.getLogger(__name__)

#: An idle consumer polls Redis this often: Dramatiq's 1 s default would add up to a second
#: to a notification's latency whenever a queue ran dry.
POLL_MS = 100

#: A child that dies faster than this after starting is crashing, not being unlucky.
RESTART_DELAY_SECONDS = 1.0


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or Ctrl-C: how every long-running command learns to stop."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def work_until_stopped(broker: dramatiq.Broker, threads: int) -> None:
    """Dramatiq's worker loop on `broker` until SIGTERM, then finish in-flight messages."""
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=POLL_MS)
    worker.start()
    stop_on_signals().wait()
    worker.stop(timeout=30_000)
    broker.close()


def supervise(
    target: Callable[[int], None],
    processes: int,
    threads: int,
    metrics_dir: str | None = None,
    metrics_port: int | None = None,
) -> int:
    """Run `target(threads)` in `processes` processes and replace any that exits; each one
    that exits is marked dead for the metrics (prometheus-client's multiprocess clean-up, as
    gunicorn's child_exit does for the web). With `metrics_port`, their series are served
    there, added up."""
    metrics.prepare_multiprocess_dir(metrics_dir)
    if metrics_port:
        metrics.serve_worker_metrics(metrics_port, metrics_dir)
    stopping = stop_on_signals()
    children = [_spawn(target, threads) for _ in range(processes)]
    log.info("%d worker processes with %d threads each", processes, threads)
    while not stopping.wait(0.5):
        for index, child in enumerate(children):
            if not child.is_alive():
                log.warning(
                    "worker pid %s exited (code %s); starting another", child.pid, child.exitcode
                )
                metrics.process_exited(child.pid, metrics_dir)
                time.sleep(RESTART_DELAY_SECONDS)
                children[index] = _spawn(target, threads)
    for child in children:
        child.terminate()
    for child in children:
        child.join(timeout=60)
        metrics.process_exited(child.pid, metrics_dir)
    return 0


def _spawn(target: Callable[[int], None], threads: int) -> multiprocessing.Process:
    process = multiprocessing.Process(target=target, args=(threads,), daemon=False)
    process.start()
    return process
