"""One queue worker process, from the start: its settings, its logging, its runtime, then
Dramatiq's loop. `ordertrack worker` hands this to the supervisor (workers/supervisor.py),
which starts and replaces such processes without knowing how one is set up."""

from entry.logs import configure_logging
from ordertrack.settings import Settings
from workers.runtime import build_runtime
from workers.supervisor import work_until_stopped


def run_worker_process(threads: int) -> None:
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    work_until_stopped(build_runtime(settings).broker, threads)
