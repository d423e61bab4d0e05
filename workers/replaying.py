"""Replay from a process of its own (the CLI): mark the rows, hand them to the queue, and,
when there is no Redis to reach the service's workers, run the queue here until done."""

from collections.abc import Callable

import dramatiq

from ordertrack import replay
from ordertrack.settings import Settings
from workers.enqueue import send_many
from workers.runtime import Runtime, build_runtime


def replay_now(
    settings: Settings,
    filters: replay.ReplayFilter,
    *,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> replay.ReplayReport:
    runtime = build_runtime(settings)
    try:
        report = replay.replay(
            runtime.sessions, filters, enqueuer(runtime), dry_run=dry_run, progress=progress
        )
        if not settings.redis_url and report.count and not dry_run:
            _drain_here(runtime)
        return report
    finally:
        runtime.broker.close()
        runtime.engine.dispose()


def enqueuer(runtime: Runtime) -> Callable[[list[int]], None]:
    """What replay hands its ids to: the events queue, in one round trip per chunk."""
    return lambda inbox_ids: send_many(runtime.actors.process_event, inbox_ids)


def _drain_here(runtime: Runtime) -> None:
    """The in-process broker lives in this process: work its queue until it is empty."""
    worker = dramatiq.Worker(runtime.broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        runtime.broker.join("events")
        runtime.broker.join("notifications")
        worker.join()
    finally:
        worker.stop()
