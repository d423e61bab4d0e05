"""Reports scale (issue 11): p95 of each performance report, and the time of one delay check
over every open order, with 1 million orders and 5 million history rows on PostgreSQL.
Targets: every report p95 <= 300 ms; the delay check under a minute.

    .venv/bin/python -m bench.reports_scale [--orders 1000000] [--history 5000000] [--keep]
    .venv/bin/python -m bench.reports_scale --orders 50000 --history 250000   # a quick run

The data is bench.console_scale's (same generator, same database name, so `--keep` with one
serves the other). Each report is asked for through the real Flask app (the Flask test
client) for its default period, the last 8 weeks, `--requests` times, as JSON from
`/api/v1/reports/<name>`; then the console's /admin/performance page, signed in; then the
delay check (`ordertrack delays --once`'s delay_check.check_all) over every order, twice:
first with no flag raised yet (the database's flags and delay notifications are deleted
first), which raises and queues many, then the steady state. `--only check` (or `reports`)
measures one part.

    .venv/bin/python -m bench.reports_scale --only check --db ordertrack_delay_bench --keep
"""

import argparse
import os
import random
import time
from datetime import UTC, datetime

from bench import common, console_scale

NAME = "reports"
REPORT_TARGET_MS = 300.0
CHECK_TARGET_S = 60.0


def measure_reports(sa_url: str, requests: int, warmup: int) -> dict:
    from ordertrack.settings import Settings
    from ordertrack.store.reports import REPORTS
    from service.app import create_app

    token = console_scale.TOKEN
    settings = Settings(
        database_url=sa_url, api_token=token, log_level="WARNING", signing_secret=token * 2
    )
    app = create_app(settings)
    client = console_scale._signed_in(app, sa_url)
    headers = {"Authorization": f"Bearer {token}"}
    paths = {f"report: {name}": f"/api/v1/reports/{name}" for name in REPORTS}
    paths["console: performance page"] = "/admin/performance"
    times: dict[str, list[float]] = {name: [] for name in paths}
    wrong: dict[str, int] = dict.fromkeys(paths, 0)
    for round_ in range(warmup + requests):
        for name, path in paths.items():
            t0 = time.perf_counter()
            response = client.get(path, headers=headers)
            ms = (time.perf_counter() - t0) * 1000
            wrong[name] += response.status_code != 200
            if round_ >= warmup:
                times[name].append(ms)
        common.log(f"round {round_ + 1}/{warmup + requests}")
    app.extensions["ordertrack"].engine.dispose()
    return {
        name: {
            "p50_ms": round(common.percentile(values, 50), 1),
            "p95_ms": round(common.percentile(values, 95), 1),
            "p99_ms": round(common.percentile(values, 99), 1),
            "wrong_answers": wrong[name],
        }
        for name, values in times.items()
    }


#: What a delay check writes, so that the first measured run starts from none.
RESET_SQL = (
    "DELETE FROM outbox WHERE kind LIKE 'delayed:%' OR kind LIKE 'order.delayed:%'",
    "DELETE FROM delay_flags",
    "DELETE FROM delay_flag_days",
)
OPEN_SQL = """
SELECT count(DISTINCT o.id), count(s.id)
FROM orders AS o LEFT JOIN shipments AS s
  ON s.order_id = o.id AND NOT s.cancelled AND NOT s.removed
 AND s.status NOT IN ('delivered', 'returned', 'cancelled')
WHERE o.status IN ({open})
"""


def measure_delay_check(sa_url: str) -> dict:
    """delay_check.check_all, timed over every order, twice: first from no flags at all (it
    raises the many flags of the generated data, and queues their news), then again at once
    (the steady state: the same orders, nothing new)."""
    from sqlalchemy import text

    from ordertrack import delay_check, delays
    from ordertrack.settings import Settings
    from ordertrack.store.db import make_engine, make_sessionmaker

    # As the sweeper (and `ordertrack delays --once`) runs it: the workers' sessions, whose
    # commits need not wait for the disk (workers/runtime.py).
    engine = make_engine(sa_url, durable=False)
    sessions = make_sessionmaker(engine)
    settings = Settings(database_url=sa_url)
    with sessions.begin() as session:
        for statement in RESET_SQL:
            session.execute(text(statement))
        statuses = ", ".join(f"'{s.value}'" for s in delays.OPEN_STATUSES)
        orders, parcels = session.execute(text(OPEN_SQL.format(open=statuses))).one()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in ("delay_flags", "outbox"):  # what the reset left behind, as autovacuum would
            connection.execute(text(f"VACUUM (ANALYZE) {table}"))
    figures = {"open_orders": orders, "open_parcels": parcels}
    for run in ("first", "second"):
        common.log(f"delay check, {run} run")
        t0, cpu0 = time.perf_counter(), time.process_time()
        checked = delay_check.check_all(sessions, settings, datetime.now(UTC))
        figures[run] = {
            "seconds": round(time.perf_counter() - t0, 1),
            "cpu_seconds": round(time.process_time() - cpu0, 1),
            "load": round(os.getloadavg()[0], 1),
            "orders_checked": checked.orders,
            "flagged": len(checked.flagged),
            "cleared": len(checked.cleared),
            "notifications": len(checked.notifications),
        }
    engine.dispose()
    return figures


def report_requests(figures: dict, orders: int, history: int) -> bool:
    print()
    print(f"{orders:,} orders, {history:,} history rows; Flask test client, one thread")
    print(f"{'request':<32} {'p50':>8} {'p95':>8} {'p99':>8}  target p95")
    met = True
    for name, f in figures.items():
        ok = f["p95_ms"] <= REPORT_TARGET_MS and not f["wrong_answers"]
        met &= ok
        print(
            f"{name:<32} {f['p50_ms']:>6.1f}ms {f['p95_ms']:>6.1f}ms {f['p99_ms']:>6.1f}ms"
            f"  <= {REPORT_TARGET_MS:.0f} ms  {'PASS' if ok else 'FAIL'}"
            + (f" ({f['wrong_answers']} wrong answers)" if f["wrong_answers"] else "")
        )
    return met


def report_check(check: dict) -> bool:
    met = True
    print(
        f"delay check over {check['open_orders']:,} open orders with {check['open_parcels']:,} "
        "parcels under way:"
    )
    for run in ("first", "second"):
        f = check[run]
        ok = f["seconds"] < CHECK_TARGET_S
        met &= ok
        print(
            f"  {run} run: {f['seconds']} s ({f['cpu_seconds']} s of it on this process's CPU; "
            f"load average {f['load']}); {f['orders_checked']:,} orders evaluated (the rest "
            f"cannot be late), {f['flagged']:,} flagged, {f['cleared']:,} cleared, "
            f"{f['notifications']:,} notifications queued; target < {CHECK_TARGET_S:.0f} s: "
            f"{'PASS' if ok else 'FAIL'}"
        )
    return met


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--history", type=int, default=5_000_000, help="history rows (and inbox)")
    parser.add_argument("--requests", type=int, default=30, help="measured per report")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured rounds first")
    parser.add_argument("--keep", action="store_true", help="keep the database; reuse a kept one")
    parser.add_argument("--fresh", action="store_true", help="regenerate even a kept database")
    parser.add_argument("--admin-url", default=console_scale.DEFAULT_ADMIN_URL)
    parser.add_argument("--db", default=console_scale.DEFAULT_DB)
    parser.add_argument(
        "--only", choices=("reports", "check"), help="measure only the reports, or only the check"
    )
    args = parser.parse_args()
    random.seed(10)
    sa_url, _ = console_scale._db_urls(args.admin_url, args.db)
    try:
        console_scale.prepare(
            args.admin_url, args.db, args.orders, args.history, args.keep, args.fresh
        )
        met = True
        if args.only != "check":
            met &= report_requests(
                measure_reports(sa_url, args.requests, args.warmup), args.orders, args.history
            )
        if args.only == "reports":
            print(f"==> {'MET' if met else 'NOT MET'}")
            return
        met &= report_check(measure_delay_check(sa_url))
        print(f"==> {'MET' if met else 'NOT MET'}")
    finally:
        if not args.keep:
            console_scale.drop(args.admin_url, args.db)


if __name__ == "__main__":
    main()
