"""Reports scale (issue 11): p95 of each performance report, and the time of one delay check
over every open order, with 1 million orders and 5 million history rows on PostgreSQL.
Targets: every report p95 <= 300 ms; the delay check under a minute.

    .venv/bin/python -m bench.reports_scale [--orders 1000000] [--history 5000000] [--keep]
    .venv/bin/python -m bench.reports_scale --orders 50000 --history 250000   # a quick run

The data is bench.console_scale's (same generator, same database name, so `--keep` with one
serves the other). Each report is asked for through the real Flask app (the Flask test
client) for its default period, the last 8 weeks, `--requests` times, as JSON from
`/api/v1/reports/<name>`; then the console's /admin/performance page, signed in; then one
`ordertrack delays --once`-style check over every order that may be late (it writes the
flags it raises, as the real check does), stopped after `--cap` seconds with its rate and the
time all of them would take.
"""

import argparse
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


def measure_delay_check(sa_url: str, cap_seconds: float) -> dict:
    """delay_check.check_all's loop, timed, with progress, stopped after `cap_seconds`: the
    rate then says how long every open order would take."""
    from ordertrack import delay_check
    from ordertrack.settings import Settings
    from ordertrack.store import flags
    from ordertrack.store.db import make_engine, make_sessionmaker

    engine = make_engine(sa_url)
    sessions = make_sessionmaker(engine)
    settings, now = Settings(database_url=sa_url), datetime.now(UTC)
    with sessions() as session:
        waiting = len(flags.orders_to_check(session, 0, 10_000_000))
    t0 = time.perf_counter()
    total, after = delay_check.Checked(), 0
    book = delay_check.learned_book(settings, now)
    while time.perf_counter() - t0 < cap_seconds:
        with sessions.begin() as session:
            orders = flags.orders_to_check(session, after, delay_check.BATCH)
            if not orders:
                break
            total.add(delay_check.check_batch(session, orders, settings, now, book))
            after = orders[-1].id
        if total.orders % 10_000 < delay_check.BATCH:
            common.log(f"delay check: {total.orders:,}/{waiting:,} orders")
    seconds = time.perf_counter() - t0
    engine.dispose()
    rate = total.orders / seconds if seconds else 0.0
    return {
        "seconds": round(seconds, 1),
        "orders_checked": total.orders,
        "orders_waiting": waiting,
        "orders_per_second": round(rate),
        "projected_seconds_all": round(waiting / rate, 1) if rate else None,
        "flagged": len(total.flagged),
        "cleared": len(total.cleared),
    }


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
    projected = check["projected_seconds_all"] or float("inf")
    ok = projected <= CHECK_TARGET_S
    print(
        f"delay check: {check['orders_checked']:,} of {check['orders_waiting']:,} orders that may "
        f"be late checked in {check['seconds']} s ({check['orders_per_second']:,}/s; "
        f"{check['flagged']:,} flagged, {check['cleared']:,} cleared): all of them in "
        f"{projected:.0f} s; target < {CHECK_TARGET_S:.0f} s: {'PASS' if ok else 'FAIL'}"
    )
    return ok


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
        "--cap", type=float, default=120.0, help="stop the delay check after this many seconds"
    )
    args = parser.parse_args()
    random.seed(10)
    sa_url, _ = console_scale._db_urls(args.admin_url, args.db)
    try:
        console_scale.prepare(
            args.admin_url, args.db, args.orders, args.history, args.keep, args.fresh
        )
        met = report_requests(
            measure_reports(sa_url, args.requests, args.warmup), args.orders, args.history
        )
        common.log(f"one delay check over every order that may be late (at most {args.cap} s)")
        met &= report_check(measure_delay_check(sa_url, args.cap))
        print(f"==> {'MET' if met else 'NOT MET'}")
    finally:
        if not args.keep:
            console_scale.drop(args.admin_url, args.db)


if __name__ == "__main__":
    main()
