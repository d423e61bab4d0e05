"""Worker: inbox events applied/s by the `process_event` actor, divided by the drain rate of a
no-op actor on the same Redis broker set-up with the same thread count, in the same run.
Target: ratio >= 0.30.

    .venv/bin/python -m bench.worker [--orders 2000] [--threads 8] [--noop-messages 20000]

1. The receiver alone fills the inbox (3 deliveries per order; each enqueues its row id),
   then stops, so the worker has the two cores to itself.
2. `ordertrack worker --processes 1 --threads 8` drains the events queue (and sends the
   notifications they cause to a local SMTP sink); the rate runs from the first row's
   `processed_at` to the last.
3. The same number of threads in bench.noop_worker drains N no-op messages; the rate runs
   from the first ack to the last (Redis `<queue>.msgs` emptying).
"""

import argparse
import time

from bench import common, processes
from bench.load import replay, report_replay
from bench.noop_worker import QUEUE, declare_noop
from bench.payloads import Traffic, Webhook
from bench.smtp_sink import Recorder, smtp_sink


def run(orders: int = 2000, threads: int = 8, noop_messages: int = 20000) -> dict:
    busy = common.background_busy()
    webhooks = Traffic().stream(orders)
    with smtp_sink() as (smtp_port, mail):
        env = common.service_env(smtp_port=smtp_port)
        common.reset_state(env)
        events = process_events(env, webhooks, threads, mail)
        noop = noop_drain(env, noop_messages, threads)
    ratio = events["per_s"] / noop["per_s"]
    #: less sensitive to other load on the machine than the rates: no-op / process_event
    cpu_ratio = round(noop["cpu_ms_per_message"] / events["cpu_ms_per_event"], 3)
    details = {
        "background_busy": busy,
        "threads": threads,
        "process_event": events,
        "noop": noop,
        "cpu_per_message_ratio": cpu_ratio,
    }
    return common.finish("worker", "worker ratio process_event/no-op", ratio, ">=", 0.30, details)


def process_events(
    env: dict,
    webhooks: list[Webhook],
    threads: int,
    mail: Recorder,
    db: str | None = None,
    after_id: int = 0,
) -> dict:
    """The receiver alone fills the inbox with `webhooks`, then stops; `ordertrack worker`
    drains it. Figures of the inbox rows after `after_id` in `db` (default the bench
    database), which `env` must point at: rate, worker CPU and database CPU per event."""
    db = db or common.DB_NAME
    port = common.free_port()
    with processes.gunicorn(common.REAL_APP, env, port):
        report_replay("filling the inbox", replay(port, webhooks))
    queued = common.redis_client().hlen(f"{common.QUEUE_NAMESPACE}:events.msgs")
    common.log(f"{queued} process_event messages queued; starting ordertrack worker")
    with processes.queue_worker(env, threads=threads) as proc:
        pids = [proc.pid, *processes.descendants(proc.pid)]
        cpu, backends = processes.cpu_seconds(pids), processes.backend_cpu(db)
        common.wait_settled("process_event drain", after_id=after_id, db=db)
        cpu = processes.cpu_seconds(pids) - cpu
        db_cpu = sum(t - backends.get(pid, 0) for pid, t in processes.backend_cpu(db).items())
    processed, first, last = common.sql(
        "SELECT count(*), min(processed_at), max(processed_at) FROM inbox"
        " WHERE status = 'processed' AND id > %s",
        after_id,
        db=db,
    )[0]
    seconds = (last - first).total_seconds()
    events = {
        "processed": processed,
        "seconds": round(seconds, 2),
        "per_s": round((processed - 1) / seconds, 1),
        "cpu_ms_per_event": round(cpu * 1000 / processed, 2),
        "db_cpu_ms_per_event": round(db_cpu * 1000 / processed, 2),
        "queued": queued,
        "inbox": common.inbox_counts(after_id, db),
        "emails_received": mail.count(),
    }
    common.log(f"process_event: {events}")
    return events


def noop_drain(env: dict, messages: int, threads: int) -> dict:
    from ordertrack.settings import Settings
    from workers.broker import setup_broker

    broker = setup_broker(Settings(redis_url=common.REDIS_URL))
    noop = declare_noop(broker)
    for n in range(messages):
        noop.send(n)
    broker.close()
    key, redis = f"{common.QUEUE_NAMESPACE}:{QUEUE}.msgs", common.redis_client()
    common.log(f"{redis.hlen(key)} no-op messages queued; starting bench.noop_worker")
    with processes.queue_worker(env, threads=threads, noop=True) as proc:
        cpu = processes.cpu_seconds([proc.pid])
        common.wait_until(lambda: redis.hlen(key) < messages, 60, "first ack", interval=0.002)
        start, left = time.perf_counter(), redis.hlen(key)
        common.wait_until(lambda: redis.hlen(key) == 0, 600, "no-op drain", interval=0.002)
        seconds = time.perf_counter() - start
        cpu = processes.cpu_seconds([proc.pid]) - cpu
    result = {
        "messages": left,
        "seconds": round(seconds, 3),
        "per_s": round(left / seconds, 1),
        "cpu_ms_per_message": round(cpu * 1000 / messages, 3),
    }
    common.log(f"no-op: {result}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=2000, help="3 deliveries per order")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--noop-messages", type=int, default=20000)
    args = parser.parse_args()
    run(args.orders, args.threads, args.noop_messages)


if __name__ == "__main__":
    main()
