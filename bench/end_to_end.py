"""End to end: POST -> email accepted by a local SMTP server, p99 at a constant 200 webhooks/s
with the receiver and `ordertrack worker` sharing the two cores. Target: p99 <= 250 ms.

    .venv/bin/python -m bench.end_to_end [--rate 200] [--seconds 20] [--gap 1.0]

Each order's story is posted open loop: orders/create, then fulfillments/create `gap`
seconds later, then EasyPost out_for_delivery another `gap` later. The policy emails the
customer up to twice: "has shipped" (caused by the fulfillment) and "is out for delivery"
(caused by the tracker); a "shipped" email that is stale by the time it would go is skipped.
Every email the outbox marks sent is expected at the sink: it is matched to its order by
recipient (bench.<n>@example.test) and to its cause by kind/subject, and its latency runs
from that POST's scheduled time to the sink's DATA. One never received counts as infinitely
late.
"""

import argparse
import contextlib

from bench import common, processes
from bench.load import latency_summary, open_loop
from bench.payloads import Traffic
from bench.smtp_sink import smtp_sink

#: Outbox kind -> (a fragment of its email subject, the delivery kind that causes it).
KINDS = {"out_for_delivery": ("out for delivery", "tracker"), "shipped": ("shipped", "fulfillment")}
WARMUP_ORDERS = 30


def run(rate: float = 200, seconds: float = 20, gap: float = 1.0) -> dict:
    busy = common.background_busy()
    traffic = Traffic()
    orders = range(WARMUP_ORDERS, WARMUP_ORDERS + int(rate * seconds / 3))
    port = common.free_port()
    with smtp_sink() as (smtp_port, mail), contextlib.ExitStack() as stack:
        env = common.service_env(smtp_port=smtp_port, web_port=port)
        common.reset_state(env)
        stack.enter_context(processes.queue_worker(env))
        stack.enter_context(processes.gunicorn(common.REAL_APP, env, port))
        open_loop(port, schedule(traffic, range(WARMUP_ORDERS), 20, gap))
        drain("warm-up", 60)
        common.log(f"{len(orders)} orders at {rate:.0f} webhooks/s, {gap} s apart ...")
        samples = open_loop(port, schedule(traffic, orders, rate / 3, gap))
        outbox = drain("load", 600)
        sent = common.sql("SELECT recipient, kind FROM outbox WHERE status = 'sent'")
        arrivals = list(mail.arrivals)
    posts = {(s.webhook.order, s.webhook.kind): s.scheduled for s in samples}
    expected = {key for key in map(cause, sent) if key in posts}
    latencies, duplicates = email_latencies(posts, arrivals)
    every = [latencies.get(key, float("inf")) for key in expected]
    details = {
        "background_busy": busy,
        "rate_per_s": rate,
        "orders": len(orders),
        "gap_s": gap,
        "ack": latency_summary(samples),
        "outbox": outbox,
        "emails_expected": len(expected),
        "missing": len(expected - latencies.keys()),
        "duplicates": duplicates,
        "p50_ms": round(common.percentile(every, 50), 1),
    }
    for kind, (_, post_kind) in KINDS.items():
        mine = [v for (_, k), v in latencies.items() if k == post_kind]
        details |= {f"{kind}_p{p}_ms": round(common.percentile(mine, p), 1) for p in (50, 99)}
    p99 = common.percentile(every, 99)
    name = "end_to_end" + ("" if rate == 200 else f"_{rate:g}")  # non-default: own file
    return common.finish(name, f"POST->email p99 ms at {rate:.0f}/s", p99, "<=", 250, details)


def schedule(traffic: Traffic, orders: range, orders_per_s: float, gap: float):
    """(offset, webhook) for each order's three deliveries, sorted by offset."""
    timed = [
        (i / orders_per_s + k * gap, webhook)
        for i, n in enumerate(orders)
        for k, webhook in enumerate(traffic.story(n))
    ]
    return sorted(timed, key=lambda pair: pair[0])


def drain(phase: str, timeout: float) -> dict:
    common.wait_settled(phase, timeout)
    return common.wait_outbox(timeout)


def cause(recipient_and_kind: tuple[str, str]) -> tuple[int | None, str | None]:
    """(order number, kind of the delivery that caused it) for an email."""
    recipient, kind = recipient_and_kind
    local = recipient.split("@")[0]
    order = int(local.removeprefix("bench.")) if local.startswith("bench.") else None
    return order, KINDS[kind][1] if kind in KINDS else None


def email_latencies(posts: dict, arrivals) -> tuple[dict, int]:
    """{(order, delivery kind): ms from the causing POST to the email}, and duplicates."""
    latencies, duplicates = {}, 0
    for arrival in arrivals:
        subject = (arrival.subject or "").lower()
        kind = next((k for k, (fragment, _) in KINDS.items() if fragment in subject), "")
        key = cause((arrival.recipients[0] if arrival.recipients else "", kind))
        if key in latencies:
            duplicates += 1
        elif key in posts:
            latencies[key] = (arrival.at - posts[key]) * 1000
    return latencies, duplicates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200, help="webhooks per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between an order's posts")
    args = parser.parse_args()
    run(args.rate, args.seconds, args.gap)


if __name__ == "__main__":
    main()
