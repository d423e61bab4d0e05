"""Ack latency: p50/p99 of POST -> response at a constant 1,000 webhooks/s for 20 s (open
loop: requests leave on schedule whatever the server does, and latency counts from the
scheduled time). Target: p99 <= 25 ms.

    .venv/bin/python -m bench.ack_latency [--rate 1000] [--seconds 20] [--app bare]
        [--with-workers]

By default only the receiver runs (it commits and enqueues; the queue just grows). With
--with-workers an `ordertrack worker --processes 1 --threads 8` shares the two cores.
"""

import argparse
import contextlib

from bench import common, processes
from bench.load import constant_rate, latency_summary, open_loop
from bench.payloads import Traffic
from bench.smtp_sink import smtp_sink


def run(
    rate: float = 1000, seconds: float = 20, app: str = "ordertrack", with_workers: bool = False
) -> dict:
    busy = common.background_busy()
    traffic = Traffic()
    orders = int(rate * seconds / 3)
    warmup = constant_rate(traffic.stream(100), rate)
    schedule = constant_rate(traffic.stream(orders, start=100), rate)
    port = common.free_port()
    with contextlib.ExitStack() as stack:
        smtp_port, _ = stack.enter_context(smtp_sink())
        env = common.service_env(smtp_port=smtp_port, web_port=port)
        if app == "ordertrack":
            common.reset_state(env)
        if with_workers:
            stack.enter_context(processes.queue_worker(env))
        stack.enter_context(processes.gunicorn(common.app_spec(app), env, port))
        common.log(f"warm-up: {latency_summary(open_loop(port, warmup))}")
        common.log(f"{len(schedule)} deliveries at {rate:.0f}/s for {seconds:.0f} s ...")
        summary = latency_summary(open_loop(port, schedule))
    details = {
        "background_busy": busy,
        "app": app,
        "rate_per_s": rate,
        "seconds": seconds,
        "with_workers": with_workers,
        **summary,
    }
    #: non-default runs get their own result file
    name = "ack_latency" + ("" if app == "ordertrack" else f"_{app}")
    name += "" if rate == 1000 else f"_{rate:g}"
    return common.finish(
        name, f"ack p99 ms at {rate:.0f}/s", summary["ack_p99_ms"], "<=", 25, details
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--app", choices=["ordertrack", "bare"], default="ordertrack")
    parser.add_argument("--with-workers", action="store_true")
    args = parser.parse_args()
    run(args.rate, args.seconds, args.app, args.with_workers)


if __name__ == "__main__":
    main()
