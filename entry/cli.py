"""`ordertrack`: migrate the database, serve the webhooks and API, run queue workers, sweep,
and simulate providers against a running service.

Each subcommand is a process's composition root: it reads the settings once, builds what it
needs, and runs until stopped (SIGTERM or Ctrl-C finish in-flight work first).
"""

import argparse
import logging
import os
import sys

from entry.logs import configure_logging
from ordertrack.settings import Settings

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
    serve.add_argument(
        "--read-timeout",
        type=float,
        default=10.0,
        help="seconds a request may take to arrive, head and body, before its connection is "
        "closed: a slow client never holds a thread longer (default 10)",
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
    worker.add_argument(
        "--metrics-port",
        type=int,
        default=int(os.environ.get("WORKER_METRICS_PORT", "0")) or None,
        help="serve the workers' Prometheus series on this port (WORKER_METRICS_PORT; needs "
        "PROMETHEUS_MULTIPROC_DIR), for workers on a host or pod of their own",
    )
    sweep = commands.add_parser(
        "sweep", help="re-enqueue rows left unfinished (run one per deployment)"
    )
    sweep.add_argument("--once", action="store_true", help="sweep once and exit")
    delays = commands.add_parser(
        "delays",
        help="set and clear delay flags now, and print what changed",
        description=DELAYS_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    delays.add_argument("--once", action="store_true", help="run the check once and exit")
    reports = commands.add_parser(
        "reports",
        help="rebuild the performance reports' daily rollups from the orders",
        description=REPORTS_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    reports.add_argument("action", choices=["rebuild"], help="rebuild: count every order again")
    _add_replay(commands)
    _add_simulate(commands)
    _add_user(commands)
    return parser


REPORTS_DESCRIPTION = """\
The performance reports (/admin/performance, /api/v1/reports) read daily rollups that every
applied event keeps up to date. `rebuild` empties them and counts every order again from its
row, in one transaction, showing progress: after restoring a backup taken without them, or
to check them (the numbers must not change). The upgrade that added them ran it once. It
then judges every delivery again for the estimates report (which the sweeper otherwise does
as deliveries come), in the shop's calendar and ESTIMATE_WINDOW_DAYS as they are now."""


USER_DESCRIPTION = """\
Accounts for the merchant console at /admin. Staff read everything, handle returns and resend
failed messages; admins also manage users and replay webhooks. Emails are kept lower-cased."""


def _add_user(commands) -> None:
    from ordertrack.accounts import MIN_PASSWORD_LENGTH
    from ordertrack.store.user_models import Role

    user = commands.add_parser(
        "user",
        help="add, list or remove merchant console accounts",
        description=USER_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="create an account",
        description=f"Creates a console account. The password (at least {MIN_PASSWORD_LENGTH} "
        "characters) is read from standard input when it is not a terminal (one line), "
        "and asked for twice otherwise. It is stored as an argon2id hash, never shown.",
        epilog="e.g. ordertrack user add you@shop.example --role admin",
    )
    add.add_argument("email", metavar="EMAIL", help="the address they sign in with")
    add.add_argument("--role", choices=Role.ALL, required=True, help="admin or staff")
    actions.add_parser("list", help="list accounts: email, role, last sign-in")
    remove = actions.add_parser("remove", help="delete an account (it is signed out at once)")
    remove.add_argument("email", metavar="EMAIL")


DELAYS_DESCRIPTION = """\
Runs the delay check now: flags orders not shipped in time, parcels with no first scan, no
movement, past their estimate, waiting at a pickup point or stuck in an exception, and clears
the flags no longer true (thresholds: the policy file's [delays] and SLA_*_DAYS, in business
days of SHOP_TIMEZONE, BUSINESS_DAYS and HOLIDAYS). Prints each flag raised and cleared, then
the counts. The news of a new flag is queued for the workers. `ordertrack sweep` already runs
this check every DELAY_CHECK_SECONDS."""


REPLAY_DESCRIPTION = """\
Applies stored webhooks again: one by id, or every one a filter names. Replaying is applying
again, so it converges: a webhook already processed changes nothing, a failed or parked one
gets a fresh set of attempts (after you fixed a secret, a table, or the order arrived). The
queue does the work: with REDIS_URL the running workers, without it this command runs the
queue itself until it is done. Prints progress on long runs."""


def _add_replay(commands) -> None:
    from ordertrack.replay import REPLAYABLE

    replay = commands.add_parser(
        "replay",
        help="apply stored webhooks again, by id or by a filter",
        description=REPLAY_DESCRIPTION,
        epilog="e.g. ordertrack replay --status failed --source shopify --since 2026-12-01",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_argument("--id", type=int, action="append", default=[], help="an inbox id (repeat)")
    replay.add_argument("--status", choices=REPLAYABLE, help="only webhooks in this state")
    replay.add_argument("--source", help="only this source's webhooks (e.g. shopify)")
    replay.add_argument("--since", type=_moment, help="received on or after (ISO date or time)")
    replay.add_argument("--until", type=_moment, help="received before (ISO date or time)")
    replay.add_argument("--dry-run", action="store_true", help="print what it would replay")


def _moment(text: str):
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


SIMULATE_DESCRIPTION = """\
Plays a scripted order timeline against a running ordertrack: each event is built as the
platform or carrier sends it, signed as that provider signs it with the same
WEBHOOK_SECRET_<SOURCE> / WEBHOOK_TOKEN_<SOURCE> the service reads, and posted to
<url>/webhooks/<source>, with one progress line per delivery. Every run uses fresh order ids
and tracking numbers. With API_TOKEN (or --api-token) it then waits until the service has
applied every accepted delivery, reads the order from /api/v1/orders/<platform>/<id> and
prints its status.

Exit status: 0 every story ended as it says; 1 one did not, or a post was not answered 2xx
(a repeat must be answered as a duplicate); 2 it could not run (a secret is missing, the
service does not answer).

BigCommerce is not simulated: its webhooks only name the order, and the worker then reads
the order from BigCommerce's REST API, which a simulation cannot reach."""


def _add_simulate(commands) -> None:
    from simulate.sources import CARRIERS, PLATFORMS
    from simulate.stories import STORIES

    simulate = commands.add_parser(
        "simulate",
        help="post scripted, signed provider timelines to a running service",
        description=SIMULATE_DESCRIPTION,
        epilog="e.g. ordertrack simulate --story all --platform woocommerce --carrier ups",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    simulate.add_argument(
        "--story",
        choices=[*STORIES, "all"],
        default="happy_path",
        help="which timeline (default happy_path; --list says what each one is)",
    )
    simulate.add_argument(
        "--platform",
        choices=[*PLATFORMS, "all"],
        default=PLATFORMS[0],
        help=f"the shop platform that sends the order (default {PLATFORMS[0]})",
    )
    simulate.add_argument(
        "--carrier",
        choices=[*CARRIERS, "all"],
        default=CARRIERS[0],
        help=f"the carrier or aggregator that sends tracking (default {CARRIERS[0]})",
    )
    simulate.add_argument(
        "--url",
        default="http://localhost:8000",
        help="where the service runs (default http://localhost:8000)",
    )
    simulate.add_argument(
        "--api-token",
        default=os.environ.get("API_TOKEN") or None,
        help="bearer token to read the order back (default $API_TOKEN; unset: no check)",
    )
    simulate.add_argument(
        "--wait",
        type=float,
        default=15.0,
        help="seconds to wait for the service to apply what it accepted (default 15)",
    )
    simulate.add_argument(
        "--run-id",
        type=_run_id,
        help="derive ids from this number (1-9999999) instead of a fresh random one",
    )
    simulate.add_argument("--list", action="store_true", help="list the stories and exit")


def _run_id(text: str) -> int:
    value = int(text)
    if not 0 < value < 10**7:
        raise argparse.ArgumentTypeError("a run id is 1 to 9999999")
    return value


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
    from entry.gunicorn_app import run

    workers = args.workers
    host = "127.0.0.1" if args.dev else args.host
    if not settings.redis_url and workers != 1:
        log.info("no REDIS_URL: the queue runs in-process, so serving with 1 worker")
        workers = 1
    run(
        host=host,
        port=args.port,
        workers=workers,
        threads=args.threads,
        metrics_dir=settings.prometheus_multiproc_dir,
        read_timeout=args.read_timeout,
    )
    return 0


def _worker(settings: Settings, args) -> int:
    if not settings.redis_url:
        log.error("ordertrack worker needs REDIS_URL (without it, `serve` runs the queue)")
        return 2
    from entry.worker_process import run_worker_process
    from workers.supervisor import supervise

    if args.metrics_port and not settings.prometheus_multiproc_dir:
        log.error("--metrics-port needs PROMETHEUS_MULTIPROC_DIR (the workers write there)")
        return 2
    return supervise(
        run_worker_process,
        args.processes,
        args.threads,
        settings.prometheus_multiproc_dir,
        args.metrics_port,
    )


def _sweep(settings: Settings, args) -> int:
    from workers import sweeper
    from workers.runtime import build_runtime
    from workers.supervisor import stop_on_signals

    runtime = build_runtime(settings)
    if args.once:
        events, notifications = sweeper.sweep_once(runtime)
        sweeper.alert_once(runtime)
        print(f"re-enqueued {events} events and {notifications} notifications")
        return 0
    stop = stop_on_signals()
    log.info("sweeping every %ss", settings.sweep_interval_seconds)
    sweeper.run_forever(runtime, stop)
    return 0


def _delays(settings: Settings, args) -> int:
    from workers import sweeper
    from workers.runtime import build_runtime

    if not args.once:
        print("ordertrack delays: pass --once (the sweeper runs the check periodically)")
        return 2
    runtime = build_runtime(settings)
    checked = sweeper.check_delays(runtime)
    for verb, changes in (("flagged", checked.flagged), ("cleared", checked.cleared)):
        for change in changes:
            order = change.name or change.external_id
            parcel = f" parcel {change.parcel}" if change.parcel else ""
            print(
                f"{verb} {change.platform} {order}{parcel}: {change.kind} since "
                f"{change.since:%Y-%m-%d %H:%M %Z} ({change.detail})"
            )
    print(
        f"checked {checked.orders} orders: {len(checked.flagged)} flagged, "
        f"{len(checked.cleared)} cleared"
    )
    return 0


def _reports(settings: Settings, args) -> int:
    from datetime import UTC, datetime

    from ordertrack import estimate_rollup
    from ordertrack.store import flags, rollups
    from ordertrack.store.db import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        done = rollups.rebuild(session, progress=lambda n: print(f"\rcounted {n} orders", end=""))
        flags.rebuild_days(session)
        estimate_rollup.forget(session)
    print(f"\rrebuilt the report rollups from {done} orders")
    judged = estimate_rollup.run_until_caught_up(
        sessions,
        estimate_rollup.learning_of(settings),
        datetime.now(UTC),
        progress=lambda n: print(f"\rjudged {n} deliveries", end=""),
    )
    engine.dispose()
    print(f"\rjudged {judged} deliveries against their learned estimates")
    return 0


def _replay(settings: Settings, args) -> int:
    from ordertrack import replay
    from workers.replaying import replay_now

    filters = replay.ReplayFilter(
        ids=tuple(args.id),
        status=args.status,
        source=args.source,
        since=args.since,
        until=args.until,
    )
    try:
        filters.check()
    except ValueError as error:
        print(f"ordertrack replay: {error}", file=sys.stderr)
        return 2

    def progress(done: int, total: int) -> None:
        print(f"\r{'would replay' if args.dry_run else 'replayed'} {done}/{total}", end="")

    report = replay_now(settings, filters, dry_run=args.dry_run, progress=progress)
    print()
    ids = ", ".join(map(str, report.ids)) + (" ..." if report.count > len(report.ids) else "")
    verb = "would replay" if report.dry_run else "replayed"
    print(f"{verb} {report.count} webhook{'s' if report.count != 1 else ''}: {ids or 'none'}")
    return 0


def _simulate(settings: Settings, args) -> int:
    from simulate import runner
    from simulate.sources import CARRIERS, PLATFORMS
    from simulate.stories import STORIES

    if args.list:
        print(runner.listing())
        return 0
    options = runner.Options(
        stories=tuple(STORIES) if args.story == "all" else (args.story,),
        platforms=PLATFORMS if args.platform == "all" else (args.platform,),
        carriers=CARRIERS if args.carrier == "all" else (args.carrier,),
        url=args.url.rstrip("/"),
        api_token=args.api_token,
        wait=args.wait,
        run_id=args.run_id,
    )
    return runner.run(options, settings)


def _user(settings: Settings, args) -> int:
    from entry import users_cli

    return users_cli.run(settings, args)


COMMANDS = {
    "migrate": _migrate,
    "serve": _serve,
    "worker": _worker,
    "sweep": _sweep,
    "delays": _delays,
    "reports": _reports,
    "replay": _replay,
    "simulate": _simulate,
    "user": _user,
}

if __name__ == "__main__":
    sys.exit(main())
