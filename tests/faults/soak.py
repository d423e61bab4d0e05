"""LOAD-2, run by hand (`make soak`): the "run it at scale" deployment under steady load for
N minutes with a random fault now and then, then counted. See `--help`."""

import argparse
import os
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter
from sqlalchemy import text

from ordertrack import strictjson
from ordertrack.settings import Settings
from simulate import runner
from simulate.sources import Post, compact
from simulate.stories import STORIES
from tests.faults.stack import (
    SECRETS,
    DurableRedis,
    MultiStack,
    PostgresCluster,
    multi_stack,
    rss_kb,
)
from tests.support.processes import new_delivery
from tests.support.webhooks import Request
from tests.support.webhooks import shopify_signature as sign_shopify

DESCRIPTION = """\
LOAD-2, the soak: starts the deployment of the README's "Run it at scale" (gunicorn with 2
workers, 2 `ordertrack worker` processes, `ordertrack sweep`) on a private PostgreSQL cluster
and a private redis-server, sending to a real SMTP server and a Twilio-shaped HTTP server.
For MINUTES it posts signed webhooks (Shopify orders with SMS consent, EasyPost tracking, each
order placed, paid, shipped and delivered) at RATE per second, retrying any not answered 2xx
as a provider would. Every 5 minutes (every MINUTES/6 for a shorter run) it injects one fault
drawn at random from:

  Q-1     kill -9 a worker process (its supervisor starts another)
  Q-5     SIGTERM a worker (a deploy), then start a new one
  Q-6     restart Redis (its data kept)
  ING-6   Redis down for 20 s while webhooks keep coming
  ING-7   PostgreSQL down for 15 s while webhooks keep coming (503s, retried)
  SMTP-1  the SMTP server answers 451 to the next 30 messages
  SMS-1   Twilio answers 429 (Retry-After: 1) to the next 30 texts

Then it waits for everything to drain and checks: I1 the deliveries answered 2xx are exactly
the inbox rows; I2 every notification finished, none failed, every order's "delivered" email
and text sent; I3 the distinct messages at the SMTP and Twilio sinks are exactly those sent;
I4 extra copies at most one per kill; and each process's resident memory grew less than
1 MB/min (least-squares slope after a warm-up). It prints a line every minute, and a table at
the end; the exit status is 0 only if every check passed. Logs stay in the folder it names."""

STORY = STORIES["happy_path"]
PLATFORM, CARRIER = "shopify", "easypost"
FAULTS = ("Q-1", "Q-5", "Q-6", "ING-6", "ING-7", "SMTP-1", "SMS-1")
EMAIL, PHONE = "ada@example.com", "+15555550142"
#: Resident memory may grow this much per minute, after the warm-up, in any one process.
RSS_SLOPE_LIMIT_KB = 1024
SETTINGS = Settings(webhook_secrets={source: (secret,) for source, secret in SECRETS.items()})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.faults.soak",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--minutes", type=float, default=30, help="load for this long (30)")
    parser.add_argument("--rate", type=float, default=20, help="webhooks per second (20)")
    parser.add_argument("--seed", type=int, default=None, help="the faults' draw (random)")
    parser.add_argument(
        "--faults",
        type=lambda text: tuple(text.split(",")),
        default=FAULTS,
        help=f"draw from these only (comma-separated; default {','.join(FAULTS)})",
    )
    parser.add_argument("--log-dir", type=Path, default=None, help="where the logs go")
    return parser.parse_args(argv)


# The load.


@dataclass
class Delivery:
    post: Post
    key: tuple[str, str]
    order: int
    tries: int = 0
    due: float = 0.0


@dataclass
class Load:
    """Orders told at `rate` posts a second, a few at a time, each post retried until it is
    answered 2xx; what each answer was, for I1."""

    url: str
    rate: float
    serial: int = field(default_factory=lambda: random.randrange(10**8, 5 * 10**8))
    answered: set[tuple[str, str]] = field(default_factory=set)
    statuses: Counter = field(default_factory=Counter)
    #: Seconds taken by each answer that was not 2xx (ING-7 promises 503 within 2 s).
    refusal_seconds: list[float] = field(default_factory=list)
    orders: dict[int, int] = field(default_factory=dict)  # order -> posts not yet answered 2xx
    retrying: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.active: list[list[Delivery]] = []
        self.pool = ThreadPoolExecutor(16)
        self.session = requests.Session()
        self.session.mount("http://", HTTPAdapter(pool_maxsize=16))

    def new_order(self) -> list[Delivery]:
        self.serial += 1
        scene = runner.new_scene(STORY, self.serial, CARRIER, SETTINGS)
        posts = [with_sms_consent(p) for p in runner.deliveries(scene, PLATFORM, CARRIER)]
        deliveries = [Delivery(posts[i], delivery_key(posts[i]), self.serial) for i in STORY.posts]
        with self.lock:
            self.orders[self.serial] = len(deliveries)
        return deliveries

    def next(self) -> Delivery:
        now = time.monotonic()
        with self.lock:
            for delivery in self.retrying:
                if delivery.due <= now:
                    self.retrying.remove(delivery)
                    return delivery
        while len(self.active) < 8:
            self.active.append(self.new_order())
        order = self.active.pop(0)
        delivery = order.pop(0)
        if order:
            self.active.append(order)
        return delivery

    def run(self, stop: threading.Event) -> None:
        """Post at `rate` until `stop`; sends run on a pool so a slow answer holds no one."""
        interval, due = 1 / self.rate, time.monotonic()
        while not stop.is_set():
            self.pool.submit(self.send, self.next())
            due += interval
            stop.wait(max(0.0, due - time.monotonic()))

    def send(self, delivery: Delivery) -> None:
        post, started = delivery.post, time.monotonic()
        try:
            response = self.session.post(
                self.url + post.path, data=post.body, headers=post.headers, timeout=30
            )
            status = response.status_code
        except requests.RequestException:
            status = 0
        took = time.monotonic() - started
        with self.lock:
            self.statuses[status] += 1
            if 200 <= status < 300:
                self.answered.add(delivery.key)
                self.orders[delivery.order] -= 1
                return
            self.refusal_seconds.append(took)
            delivery.tries += 1
            delivery.due = time.monotonic() + min(2.0 * delivery.tries, 20.0)
            self.retrying.append(delivery)

    def flush(self, timeout: float) -> None:
        """Send every delivery still waiting for its 2xx, until none is left."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                left = len(self.retrying) + sum(1 for n in self.orders.values() if n)
            if not left:
                return
            now = time.monotonic()
            with self.lock:
                ready = [d for d in self.retrying if d.due <= now]
                for delivery in ready:
                    self.retrying.remove(delivery)
            for delivery in ready:
                self.pool.submit(self.send, delivery)
            time.sleep(0.5)
        raise AssertionError("deliveries still not answered 2xx after the flush")

    def finish_orders(self) -> None:
        """Post what the orders under way still have to say, so every order is whole."""
        for order in self.active:
            for delivery in order:
                self.pool.submit(self.send, delivery)
        self.active.clear()


def with_sms_consent(post: Post) -> Post:
    """Shopify's orders with the customer's SMS consent ("subscribed"), signed again."""
    if post.source != "shopify" or not post.topic.startswith("orders/"):
        return post
    payload = strictjson.loads(post.body)
    payload["customer"]["sms_marketing_consent"] = {"state": "subscribed", "opt_in_level": None}
    body = compact(payload)
    headers = {**post.headers, "X-Shopify-Hmac-Sha256": sign_shopify(body, SECRETS["shopify"])}
    return Post(post.source, post.topic, post.path, headers, body)


def delivery_key(post: Post) -> tuple[str, str]:
    """(source, dedupe key) as the inbox records it."""
    request = Request(post.source, post.topic, post.body, post.headers)
    return post.source, new_delivery(request).dedupe_key


# The faults.


@dataclass
class Soak:
    stack: MultiStack
    cluster: PostgresCluster
    load: Load
    rng: random.Random
    kills: int = 0
    injected: list[tuple[float, str, str]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def inject(self, fault: str) -> str:
        return {
            "Q-1": self.kill_worker,
            "Q-5": self.redeploy_worker,
            "Q-6": self.restart_redis,
            "ING-6": self.redis_down,
            "ING-7": self.postgres_down,
            "SMTP-1": lambda: self.stack.sink.refuse(30, EMAIL) or "30 RCPTs answered 451",
            "SMS-1": lambda: self.stack.twilio.throttle(30) or "30 POSTs answered 429",
        }[fault]()

    def kill_worker(self) -> str:
        pid = self.rng.choice(self.stack.worker_children())
        os.kill(pid, signal.SIGKILL)
        self.kills += 1
        return f"SIGKILL worker pid {pid}"

    def redeploy_worker(self) -> str:
        worker = self.rng.choice(self.stack.workers)
        started = time.monotonic()
        self.stack.stop_worker(worker)
        self.stack.start_worker()
        return f"SIGTERM worker {worker.pid}, replaced in {time.monotonic() - started:.1f} s"

    def restart_redis(self) -> str:
        started = time.monotonic()
        self.stack.redis.restart()
        return f"Redis restarted in {time.monotonic() - started:.1f} s"

    def _outage(self, stop: Callable[[], None], start: Callable[[], None], seconds: float):
        before = Counter(self.load.statuses)
        stop()
        time.sleep(seconds)
        start()
        return Counter(self.load.statuses) - before

    def redis_down(self) -> str:
        redis = self.stack.redis
        answers = self._outage(lambda: redis.process.stop(timeout=10), redis.start, 20)
        return f"Redis down 20 s: answers {dict(answers)}"

    def postgres_down(self) -> str:
        refused = len(self.load.refusal_seconds)
        answers = self._outage(self.cluster.stop, self.cluster.start, 15)
        slowest = max(self.load.refusal_seconds[refused:], default=0.0)
        return f"PostgreSQL down 15 s: answers {dict(answers)}, slowest refusal {slowest:.2f} s"


# Memory.


@dataclass
class Memory:
    """Resident memory of every process of the stack, sampled every 10 s."""

    samples: dict[str, list[tuple[float, int]]] = field(default_factory=dict)

    def sample(self, stack: MultiStack) -> None:
        now = time.monotonic()
        named = stack.processes()
        if stack.redis.process is not None:
            named["redis"] = stack.redis.process.pid
        for name, pid in named.items():
            rss = rss_kb(pid)
            if rss is not None:
                self.samples.setdefault(name, []).append((now, rss))

    def run(self, stack: MultiStack, stop: threading.Event) -> None:
        while not stop.wait(10):
            try:
                self.sample(stack)
            except Exception as exc:  # a process gone mid-read; sample again
                print(f"  (memory sample skipped: {exc})", flush=True)

    def slopes(self, after: float, least_minutes: float) -> dict[str, tuple[float, float]]:
        """Name -> (KB per minute, minutes observed) for each process seen at least
        `least_minutes` after the warm-up ends at `after`."""
        out = {}
        for name, points in self.samples.items():
            points = [(t, kb) for t, kb in points if t >= after]
            if len(points) < 3 or (points[-1][0] - points[0][0]) / 60 < least_minutes:
                continue
            mean_t = sum(t for t, _ in points) / len(points)
            mean_kb = sum(kb for _, kb in points) / len(points)
            var = sum((t - mean_t) ** 2 for t, _ in points)
            cov = sum((t - mean_t) * (kb - mean_kb) for t, kb in points)
            out[name] = (cov / var * 60, (points[-1][0] - points[0][0]) / 60)
        return out


# The checks.


def counts(stack: MultiStack) -> dict[tuple[str, str, str], int]:
    with stack.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT channel, kind, status, count(*) FROM outbox GROUP BY 1, 2, 3")
        )
        return {(channel, kind, status): n for channel, kind, status, n in rows}


def check(soak: Soak, memory: Memory, warm_up: float, minutes: float) -> list[tuple]:
    """(check, passed, figures) for each invariant."""
    stack, load = soak.stack, soak.load
    results = []
    inbox = stack.inbox_keys()
    results.append(
        (
            "I1 2xx ids == inbox rows",
            load.answered == inbox,
            f"{len(load.answered)} answered 2xx, {len(inbox)} inbox rows, "
            f"{len(load.answered ^ inbox)} differ",
        )
    )
    outbox = stack.outbox()
    by_status = Counter((channel, status) for _, _, channel, status, _ in outbox)
    unfinished = [row for row in outbox if row[3] in ("pending", "sending", "ambiguous")]
    failed = [row for row in outbox if row[3] == "failed"]
    tally = counts(stack)
    orders = len(load.orders)
    delivered = (
        tally.get(("email", "delivered", "sent"), 0),
        tally.get(("sms", "delivered", "sent"), 0),
    )
    results.append(
        (
            "I2 every message finished",
            not unfinished and not failed and delivered == (orders, orders),
            f"{orders} orders; delivered email/sms sent {delivered[0]}/{delivered[1]}; "
            f"{len(unfinished)} unfinished, {len(failed)} failed; "
            + ", ".join(f"{c} {s} {n}" for (c, s), n in sorted(by_status.items())),
        )
    )
    sent_email = {
        mid for _, _, channel, status, mid in outbox if channel == "email" and status == "sent"
    }
    sent_sms = {
        oid
        for oid, _, channel, status, _ in outbox
        if channel == "sms" and status in ("sent", "delivered")
    }
    copies, texts = stack.sink.copies(), Counter(stack.twilio.by_outbox)
    results.append(
        (
            "I3 sink distinct == sent",
            set(copies) == sent_email and set(texts) == sent_sms,
            f"email {len(copies)} distinct / {len(sent_email)} sent; "
            f"sms {len(texts)} distinct / {len(sent_sms)} sent",
        )
    )
    extra = sum(copies.values()) - len(copies) + sum(texts.values()) - len(texts)
    results.append(
        (
            "I4 extra copies <= kills",
            extra <= soak.kills,
            f"{extra} extra copies, {soak.kills} kills",
        )
    )
    slopes = memory.slopes(warm_up, least_minutes=min(5.0, minutes / 4))
    worst = max(slopes.items(), key=lambda item: item[1][0], default=("none", (0.0, 0.0)))
    results.append(
        (
            "RSS slope < 1 MB/min",
            all(s < RSS_SLOPE_LIMIT_KB for s, _ in slopes.values()),
            f"{len(slopes)} processes; steepest {worst[0]} {worst[1][0]:.0f} KB/min "
            f"over {worst[1][1]:.0f} min",
        )
    )
    return results


def progress(soak: Soak) -> str:
    stack, load = soak.stack, soak.load
    minutes = (time.monotonic() - soak.started) / 60
    try:
        inbox = dict(stack.inbox_statuses())
        outbox = Counter(row[3] for row in stack.outbox())
        stored = f"inbox {inbox}; outbox {dict(outbox)}"
    except Exception as exc:  # PostgreSQL may be the fault under way
        stored = f"database not answering ({type(exc).__name__})"
    with load.lock:
        answers = dict(load.statuses)
        waiting = len(load.retrying)
    return (
        f"[{minutes:5.1f} min] posted {sum(answers.values())} {answers}, {waiting} to retry;"
        f" {stored}; sink {len(stack.sink.messages)} emails,"
        f" {stack.twilio.created()} texts; faults {len(soak.injected)}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="ordertrack-soak-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    every = min(5.0, args.minutes / 6) * 60
    print(
        f"LOAD-2 soak: {args.minutes:g} min at {args.rate:g}/s, a fault every "
        f"{every / 60:.1f} min, seed {seed}; logs in {log_dir}",
        flush=True,
    )
    cluster = PostgresCluster(log_dir).start()
    try:
        database_url = cluster.create_database("ordertrack_soak")
        redis = DurableRedis(log_dir)
        with multi_stack(database_url, log_dir, redis=redis, SWEEP_AFTER_SECONDS="30") as stack:
            return soak(stack, cluster, args, seed, every)
    finally:
        cluster.remove()


def soak(stack: MultiStack, cluster: PostgresCluster, args, seed: int, every: float) -> int:
    rng = random.Random(seed)
    load = Load(stack.url, args.rate)
    run = Soak(stack, cluster, load, rng)
    memory = Memory()
    stop = threading.Event()
    threads = [
        threading.Thread(target=load.run, args=(stop,), daemon=True),
        threading.Thread(target=memory.run, args=(stack, stop), daemon=True),
    ]
    for thread in threads:
        thread.start()
    deck: list[str] = []
    end = run.started + args.minutes * 60
    next_fault, next_line = run.started + every, run.started + 60
    while (now := time.monotonic()) < end:
        if now >= next_fault and next_fault < end - 30:
            if not deck:
                deck = rng.sample(args.faults, len(args.faults))
            fault = deck.pop()
            at = (now - run.started) / 60
            print(f"[{at:5.1f} min] fault {fault} ...", flush=True)
            what = run.inject(fault)
            run.injected.append((at, fault, what))
            print(f"[{(time.monotonic() - run.started) / 60:5.1f} min] {fault}: {what}", flush=True)
            next_fault += every
        if now >= next_line:
            print(progress(run), flush=True)
            next_line += 60
        time.sleep(0.5)
    stop.set()
    load.finish_orders()
    print("load stopped; waiting for every delivery's 2xx and for the rows to settle", flush=True)
    drained = time.monotonic()
    load.flush(timeout=600)
    settle(run, timeout=900)
    drain_seconds = time.monotonic() - drained
    print(progress(run), flush=True)
    results = check(
        run, memory, warm_up=run.started + min(5.0, args.minutes / 3) * 60, minutes=args.minutes
    )
    passed = all(ok for _, ok, _ in results)
    print_table(run, results, args.minutes, drain_seconds, passed)
    return 0 if passed else 1


def settle(run: Soak, timeout: float) -> None:
    """Wait for every row to settle (a killed send waits out its lease), a line a minute."""
    deadline, next_line = time.monotonic() + timeout, time.monotonic() + 60
    while not run.stack.settled():
        if time.monotonic() > deadline:
            raise AssertionError(f"not settled after {timeout:g} s: {progress(run)}")
        if time.monotonic() >= next_line:
            print(progress(run), flush=True)
            next_line += 60
        time.sleep(1)


def print_table(run: Soak, results: list[tuple], minutes: float, drain: float, passed: bool):
    load = run.load
    refused = max(load.refusal_seconds, default=0.0)
    print("\n| Fault | at (min) | what happened |\n| --- | --- | --- |")
    for at, fault, what in run.injected:
        print(f"| {fault} | {at:.1f} | {what} |")
    print("\n| Check | Result | Figures |\n| --- | --- | --- |")
    for name, ok, figures in results:
        print(f"| {name} | {'passed' if ok else 'FAILED'} | {figures} |")
    faults = ", ".join(fault for _, fault, _ in run.injected)
    total = sum(load.statuses.values())
    print(
        f"\nLOAD-2 last run: {datetime.now(UTC):%Y-%m-%d}, {minutes:g} min, "
        f"{'passed' if passed else 'FAILED'}: {total} posts at {total / minutes / 60:.1f}/s, "
        f"{len(load.orders)} orders; faults {faults}; drained in {drain:.0f} s; "
        f"slowest refusal {refused:.2f} s"
    )


if __name__ == "__main__":
    sys.exit(main())
