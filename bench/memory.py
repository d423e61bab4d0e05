"""Memory: RSS (VmRSS from /proc/<pid>/status) of each gunicorn web worker and each queue
worker process, read after the sustained load (bench.sustained.drive_system) has been
processed. Targets: <= 80 MB per web worker, <= 120 MB per queue worker process.

    .venv/bin/python -m bench.memory [--orders 4000] [--worker-threads 8]

The queue side counts every process of `ordertrack worker`: the supervisor and its children.
bench.run_all reads these from its bench.sustained run instead of loading the system twice.
"""

import argparse

from bench import common
from bench.payloads import Traffic
from bench.sustained import drive_system


def run(orders: int = 4000, worker_threads: int = 8, system: dict | None = None) -> list[dict]:
    """Drive the system, or read the RSS a bench.sustained run already took (run_all)."""
    busy = system["background_busy"] if system else common.background_busy()
    system = system or drive_system(Traffic(), orders, worker_threads, connections=50)
    details = {"background_busy": busy} | {
        key: system[key] for key in ("deliveries", "processed", "inbox", "outbox")
    }
    results = []
    for side, target in (("web", 80), ("queue", 120)):
        processes = system["rss"][side]
        for proc in processes:
            common.log(f"{side} pid {proc['pid']}: {proc['rss_mb']} MB  ({proc['cmd']})")
        worst = max(p["rss_mb"] for p in processes)
        results.append(
            common.finish(
                f"memory_{side}",
                f"max RSS MB per {side} process",
                worst,
                "<=",
                target,
                {**details, "processes": processes},
            )
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=4000, help="3 deliveries per order")
    parser.add_argument("--worker-threads", type=int, default=8)
    args = parser.parse_args()
    run(args.orders, args.worker_threads)


if __name__ == "__main__":
    main()
