"""Sustained: webhooks/s fully processed (inbox rows reaching 'processed') with the receiver
(gunicorn, 2 gthread workers) and `ordertrack worker --processes 1 --threads 8` sharing the
two cores, divided by the bare HMAC endpoint's accepted rate in the same run. Target >= 0.30.

    .venv/bin/python -m bench.sustained [--orders 4000] [--worker-threads 8]

The clock runs from wrk's first request to the last row's `processed_at`; emails go to a
local SMTP sink. `drive_system` is shared with bench.memory.
"""

import argparse
import contextlib
from datetime import UTC

from bench import common, processes
from bench.load import replay, replay_against, report_replay
from bench.payloads import Traffic
from bench.smtp_sink import smtp_sink

WARMUP_ORDERS = 200


def run(orders: int = 4000, worker_threads: int = 8, connections: int = 50) -> dict:
    busy = common.background_busy()
    traffic = Traffic()
    load = traffic.stream(orders, start=WARMUP_ORDERS)
    bare_env = common.service_env()
    _, bare = replay_against(
        common.BARE_APP, bare_env, traffic.stream(WARMUP_ORDERS), load, connections=connections
    )
    system = drive_system(traffic, orders, worker_threads, connections)
    ratio = system["processed_per_s"] / bare["2xx_per_s"]
    details = {"background_busy": busy, "bare_2xx_per_s": bare["2xx_per_s"], **system}
    return common.finish("sustained", "sustained ratio processed/bare", ratio, ">=", 0.30, details)


def drive_system(traffic: Traffic, orders: int, worker_threads: int, connections: int) -> dict:
    """Run receiver + workers, replay a warm-up and then `orders` stories, wait until every
    row has settled; figures plus the RSS of every process, read after the load."""
    port = common.free_port()
    with smtp_sink() as (smtp_port, mail), contextlib.ExitStack() as stack:
        env = common.service_env(smtp_port=smtp_port, web_port=port)
        common.reset_state(env)
        worker = stack.enter_context(processes.queue_worker(env, threads=worker_threads))
        web = stack.enter_context(processes.gunicorn(common.REAL_APP, env, port))
        report_replay("ordertrack warm-up", replay(port, traffic.stream(WARMUP_ORDERS)))
        common.wait_settled("warm-up")
        mark = common.sql("SELECT coalesce(max(id), 0) FROM inbox")[0][0]
        load = replay(port, traffic.stream(orders, start=WARMUP_ORDERS), connections=connections)
        report_replay("ordertrack load", load)
        common.wait_settled("load")
        processed, last = common.sql(
            "SELECT count(*), max(processed_at) FROM inbox WHERE id > %s AND status = 'processed'",
            mark,
        )[0]
        seconds = last.astimezone(UTC).timestamp() - load["started_at"]
        outbox = common.wait_outbox()
        rss = {
            "web": processes.process_rss(processes.children(web.pid)),
            "queue": processes.process_rss([worker.pid, *processes.descendants(worker.pid)]),
        }
        emails = mail.count()
    return {
        "deliveries": load["received"],
        "worker_threads": worker_threads,
        "ingest_2xx_per_s": load["2xx_per_s"],
        "ingest_statuses": load["statuses"],
        "processed": processed,
        "seconds": round(seconds, 2),
        "processed_per_s": round(processed / seconds, 1),
        "inbox": common.inbox_counts(),
        "outbox": outbox,
        "emails_received": emails,
        "rss": rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=4000, help="3 deliveries per order")
    parser.add_argument("--worker-threads", type=int, default=8)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    run(args.orders, args.worker_threads, args.connections)


if __name__ == "__main__":
    main()
