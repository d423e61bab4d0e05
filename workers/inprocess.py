"""The in-process queue for `make run` on a laptop: Dramatiq's real worker loop on a
StubBroker, in threads of the web process, plus the sweeper. Nothing else to install."""

import threading

import dramatiq

from workers import sweeper
from workers.runtime import Runtime


def start(runtime: Runtime, threads: int) -> threading.Event:
    """Start worker threads and the sweeper; set the returned event to stop the sweeper."""
    worker = dramatiq.Worker(runtime.broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    stop = threading.Event()
    threading.Thread(
        target=sweeper.run_forever, args=(runtime, stop), name="sweeper", daemon=True
    ).start()
    return stop
