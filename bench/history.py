"""History: the cost of an event with 1M orders and 5M history rows stored / with 10k orders.
P5 of issue 12: at 1 million orders and 5 million history rows, at most 1.2 times the cost at
10 thousand (and 50 thousand rows). Target: ratio <= 1.2.

    .venv/bin/python -m bench.history [--big-orders 1000000] [--big-history 5000000]
        [--small-orders 10000] [--small-history 50000] [--orders 1000] [--threads 8]

1. Each size has a base database of bench.console_scale's generated data: the one
   console_scale kept (ordertrack_console_bench) when it has these sizes, otherwise
   ordertrack_history_<orders>, generated the first time (minutes at a million orders) and
   kept for the next run while the sizes, the migrations and the generator stay the same.
2. Each measurement runs on a throwaway copy of its base (CREATE DATABASE ... TEMPLATE),
   dropped afterwards, so the base never changes: bench.worker's process_event phase, the
   receiver filling the inbox with `--orders` new stories, then `ordertrack worker
   --processes 1 --threads N` draining it (and sending the emails to a local SMTP sink).
3. The cost of an event is the worker's CPU ms per event, which moves less with other load
   on the machine than the wall time per event (1 / rate), printed beside it with the
   database backends' CPU per event.
"""

import argparse
import contextlib
import time

from bench import common, console_scale, worker
from bench.payloads import Traffic, Webhook
from bench.smtp_sink import smtp_sink

NAME = "history"
TARGET = 1.2
#: How long to wait for other sessions to leave a base database before copying it.
COPY_PATIENCE_SECONDS = 300


def base_database(orders: int, history: int) -> str:
    """A kept database of these sizes: console_scale's own when it kept one, else ours."""
    admin = common.PG_ADMIN_URL
    if console_scale.holds(admin, console_scale.DEFAULT_DB, orders, history):
        common.log(f"using {console_scale.DEFAULT_DB}, kept by console_scale at these sizes")
        return console_scale.DEFAULT_DB
    base = f"ordertrack_history_{orders}"
    console_scale.prepare(admin, base, orders, history, keep=True, fresh=False)
    return base


@contextlib.contextmanager
def throwaway_copy(base: str):
    """A copy of `base` to measure on, dropped afterwards (the worker writes to it)."""
    import psycopg

    copy = f"{base}_run"
    t0 = time.monotonic()
    with psycopg.connect(common.PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
        _create_from_template(conn, copy, base)
    common.log(f"copied {base} to {copy} in {time.monotonic() - t0:.1f} s")
    try:
        yield copy
    finally:
        with psycopg.connect(common.PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
        common.log(f"dropped {copy}")


def _create_from_template(conn, copy: str, base: str) -> None:
    """PostgreSQL copies a template only while no one else is connected to it (console_scale
    may be measuring on its database): wait for them a while."""
    import psycopg

    deadline = time.monotonic() + COPY_PATIENCE_SECONDS
    while True:
        try:
            conn.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{base}"')
            return
        except psycopg.errors.ObjectInUse:
            if time.monotonic() > deadline:
                raise SystemExit(f"{base} stayed in use by other sessions; try later") from None
            common.log(f"{base} is in use by another session; waiting to copy it")
            time.sleep(10)


def measure(base: str, webhooks: list[Webhook], threads: int) -> dict:
    """bench.worker's process_event figures on a copy of `base`, for the new rows only."""
    with throwaway_copy(base) as copy, smtp_sink() as (smtp_port, mail):
        env = common.service_env(smtp_port=smtp_port, db=copy)
        common.redis_client().flushdb()
        after_id = common.sql("SELECT coalesce(max(id), 0) FROM inbox", db=copy)[0][0]
        events = worker.process_events(env, webhooks, threads, mail, copy, after_id)
    if events["processed"] < len(webhooks):
        common.log(f"WARNING: {events['processed']} of {len(webhooks)} events processed")
    return {**events, "wall_ms_per_event": round(1000 / events["per_s"], 3)}


def _ratio(big: dict, small: dict, key: str) -> float | None:
    return round(big[key] / small[key], 3) if small[key] else None


def print_sizes(measured: dict[str, dict]) -> None:
    print()
    print(f"{'size':<6} {'orders':>10} {'history':>10} {'events/s':>9} {'wall ms':>8}", end="")
    print(f" {'worker CPU ms':>14} {'db CPU ms':>10}  (per event)")
    for name, m in measured.items():
        print(
            f"{name:<6} {m['orders']:>10,} {m['history']:>10,} {m['per_s']:>9.1f}"
            f" {m['wall_ms_per_event']:>8.3f} {m['cpu_ms_per_event']:>14.2f}"
            f" {m['db_cpu_ms_per_event']:>10.2f}"
        )


def run(
    big_orders: int = 1_000_000,
    big_history: int = 5_000_000,
    small_orders: int = 10_000,
    small_history: int = 50_000,
    orders: int = 1000,
    threads: int = 8,
) -> dict:
    busy = common.background_busy()
    sizes = {"small": (small_orders, small_history), "big": (big_orders, big_history)}
    bases = {name: base_database(*size) for name, size in sizes.items()}
    webhooks = Traffic().stream(orders)
    measured = {}
    for name, base in bases.items():
        stored, history = sizes[name]
        common.log(f"{name}: {stored:,} orders, {history:,} history rows, on a copy of {base}")
        measured[name] = {"orders": stored, "history": history, **measure(base, webhooks, threads)}
    small, big = measured["small"], measured["big"]
    print_sizes(measured)
    details = {
        "background_busy": busy,
        "threads": threads,
        "new_orders": orders,
        "wall_ratio": _ratio(big, small, "wall_ms_per_event"),
        "db_cpu_ratio": _ratio(big, small, "db_cpu_ms_per_event"),
        "small": small,
        "big": big,
    }
    ratio = big["cpu_ms_per_event"] / small["cpu_ms_per_event"]
    return common.finish(NAME, "worker CPU per event, big / small", ratio, "<=", TARGET, details)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--big-orders", type=int, default=1_000_000)
    parser.add_argument("--big-history", type=int, default=5_000_000, help="history rows")
    parser.add_argument("--small-orders", type=int, default=10_000)
    parser.add_argument("--small-history", type=int, default=50_000, help="history rows")
    parser.add_argument("--orders", type=int, default=1000, help="new stories, 3 events each")
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    run(
        args.big_orders,
        args.big_history,
        args.small_orders,
        args.small_history,
        args.orders,
        args.threads,
    )


if __name__ == "__main__":
    main()
