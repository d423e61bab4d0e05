"""The yardstick for bench.worker: a no-op actor on ordertrack's own broker set-up
(workers/broker.py), consumed the way `ordertrack worker` runs its actors: one
`dramatiq.Worker` with N threads in one process.

    .venv/bin/python -m bench.noop_worker --threads 8
"""

import argparse

import dramatiq

from ordertrack.settings import Settings
from workers.broker import setup_broker
from workers.supervisor import work_until_stopped

QUEUE = "bench_noop"


def declare_noop(broker: dramatiq.Broker) -> dramatiq.Actor:
    @dramatiq.actor(broker=broker, queue_name=QUEUE, actor_name="bench_noop")
    def noop(inbox_id: int) -> None:
        """Does nothing: what is left is Dramatiq's own cost per message."""

    return noop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    broker = setup_broker(Settings.from_env())
    declare_noop(broker)
    work_until_stopped(broker, args.threads)  # the very loop `ordertrack worker` runs


if __name__ == "__main__":
    main()
