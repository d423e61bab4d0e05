"""gunicorn, embedded, so `ordertrack serve` takes plain flags and needs no config file."""

from gunicorn.app.base import BaseApplication

from entry.gunicorn_worker import DEFAULT_READ_TIMEOUT, reading_within
from workers import metrics


class _Application(BaseApplication):
    def __init__(self, options: dict) -> None:
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        from entry.wsgi import app
        from service import live_streams

        live_streams.fit_to_threads(app, self.cfg.threads)
        return app


def run(
    *,
    host: str,
    port: int,
    workers: int,
    threads: int,
    metrics_dir: str | None,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
) -> None:
    metrics.prepare_multiprocess_dir(metrics_dir)

    def child_exit(server, worker) -> None:
        """prometheus-client's recommended hook: a web worker that exits is marked dead."""
        metrics.process_exited(worker.pid, metrics_dir)

    _Application(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            # gthread, but a slow client holds no thread (entry/gunicorn_worker.py).
            "worker_class": reading_within(read_timeout),
            "threads": threads,
            "timeout": 30,
            "graceful_timeout": 30,
            "keepalive": 5,
            # Each worker gets connections from the kernel in turn; without it a burst of
            # keep-alive connections can land on one worker and leave the other idle.
            "reuse_port": True,
            "accesslog": None,
            "child_exit": child_exit,
        }
    ).run()
