"""`ordertrack`: migrate the database, serve the webhooks and API, run queue workers, sweep.

Each subcommand is a process's composition root: it reads the settings once, builds what it
needs, and runs until stopped (SIGTERM or Ctrl-C finish in-flight work first).
"""

import argparse
import logging
import os
import sys

from ordertrack.settings import Settings
from service.logs import configure_logging

log = logging.getLogger("ordertrack")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ordertrack",
        description="Self-hosted order tracking: verified webhooks in, one order lifecycle, "
        "customer notifications out. Settings come from the environment (see README).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("migrate", help="create or upgrade the database schema (DATABASE_URL)")
    serve = commands.add_parser(
        "serve",
        help="serve webhooks, the API and health checks under gunicorn",
        description="Without REDIS_URL the queue runs inside this process (one web worker).",
    )
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")  # noqa: S104
    serve.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY", "2")),
        help="gunicorn worker processes (WEB_CONCURRENCY, default 2)",
    )
    serve.add_argument(
        "--threads",
        type=int,
        default=32,
        help="threads per worker (default 32: a webhook thread mostly waits for its commit)",
    )
    serve.add_argument("--dev", action="store_true", help="laptop mode: bind 127.0.0.1, 1 worker")
    worker = commands.add_parser(
        "worker",
        help="run queue workers (needs REDIS_URL)",
        description="Runs Dramatiq workers for the events and notifications queues, "
        "restarting any worker process that dies.",
    )
    worker.add_argument("--processes", type=int, default=1, help="worker processes (default 1)")
    worker.add_argument("--threads", type=int, default=8, help="threads per process (default 8)")
    sweep = commands.add_parser(
        "sweep", help="re-enqueue rows left unfinished (run one per deployment)"
    )
    sweep.add_argument("--once", action="store_true", help="sweep once and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    return COMMANDS[args.command](settings, args)


def _migrate(settings: Settings, args) -> int:
    from ordertrack.store.migrate import upgrade

    upgrade(settings.database_url)
    log.info("database schema is up to date")
    return 0


def _serve(settings: Settings, args) -> int:
    from service.gunicorn_app import run

    workers = args.workers
    host = "127.0.0.1" if args.dev else args.host
    if not settings.redis_url and workers != 1:
        log.info("no REDIS_URL: the queue runs in-process, so serving with 1 worker")
        workers = 1
    run(host=host, port=args.port, workers=workers, threads=args.threads)
    return 0


def _worker(settings: Settings, args) -> int:
    if not settings.redis_url:
        log.error("ordertrack worker needs REDIS_URL (without it, `serve` runs the queue)")
        return 2
    from workers.supervisor import supervise

    return supervise(args.processes, args.threads)


def _sweep(settings: Settings, args) -> int:
    from workers import sweeper
    from workers.runtime import build_runtime
    from workers.supervisor import stop_on_signals

    runtime = build_runtime(settings)
    if args.once:
        events, notifications = sweeper.sweep_once(runtime)
        print(f"re-enqueued {events} events and {notifications} notifications")
        return 0
    stop = stop_on_signals()
    log.info("sweeping every %ss", settings.sweep_interval_seconds)
    sweeper.run_forever(runtime, stop)
    return 0


COMMANDS = {"migrate": _migrate, "serve": _serve, "worker": _worker, "sweep": _sweep}

if __name__ == "__main__":
    sys.exit(main())
