"""Ingest: accepted webhooks/s of ordertrack's receiver divided by a bare Flask endpoint that
only checks the HMAC (bench/bare_app.py). Same gunicorn command line (2 gthread workers x 8
threads), same pre-signed requests, same wrk settings, one after the other in this run.
Target: ratio >= 0.50. Also checks "2xx = committed": inbox rows == 2xx answers.

    .venv/bin/python -m bench.ingest [--orders 8000] [--connections 50]

Queue workers are not running: the receiver only commits and enqueues.
"""

import argparse

from bench import common
from bench.load import replay_against
from bench.payloads import Traffic

WARMUP_ORDERS = 200


def run(orders: int = 8000, connections: int = 50, wrk_threads: int = 1) -> dict:
    busy = common.background_busy()
    traffic = Traffic()
    warmup = traffic.stream(WARMUP_ORDERS)
    load = traffic.stream(orders, start=WARMUP_ORDERS)
    common.log(f"{len(warmup)} warm-up + {len(load)} signed deliveries ready")
    env = common.service_env()
    common.reset_state(env)
    wrk = {"connections": connections, "threads": wrk_threads}
    _, bare = replay_against(common.BARE_APP, env, warmup, load, **wrk)
    warm, real = replay_against(common.REAL_APP, env, warmup, load, **wrk)
    answered_2xx = warm["2xx"] + real["2xx"]
    rows = common.sql("SELECT count(*) FROM inbox")[0][0]
    ratio = real["2xx_per_s"] / bare["2xx_per_s"]
    details = {
        "background_busy": busy,
        "deliveries": len(load),
        "connections": connections,
        "bare": bare,
        "ordertrack": real,
        #: less sensitive to other load on the machine than the rates: bare / ordertrack
        "web_cpu_per_request_ratio": round(
            bare["web_cpu_ms_per_request"] / real["web_cpu_ms_per_request"], 3
        ),
        "inbox_rows": rows,
        "ordertrack_2xx_incl_warmup": answered_2xx,
        "2xx_equals_committed": rows == answered_2xx,
    }
    if rows != answered_2xx:
        common.log(f"MISMATCH: {answered_2xx} answered 2xx but {rows} inbox rows")
    return common.finish("ingest", "ingest ratio ordertrack/bare", ratio, ">=", 0.50, details)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=8000, help="3 deliveries per order")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--wrk-threads", type=int, default=1)
    args = parser.parse_args()
    run(args.orders, args.connections, args.wrk_threads)


if __name__ == "__main__":
    main()
