"""The sweeper under contention and after an outage, on PostgreSQL (issue 13, defect 9): a row
another transaction holds locked is passed over, never waited for; a large backlog goes to the
queue as fast as the workers take it, and never piles up on the queue faster than that."""

import queue
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from dramatiq import Message
from sqlalchemy import create_engine, select, text, update

from ordertrack.store.inbox import NewInboxRow, record
from ordertrack.store.models import Inbox, Order, Outbox
from tests.support.harness import start_service
from tests.support.processes import redis_stack
from workers.sweeper import sweep_once

LONG_AGO = datetime.now(UTC) - timedelta(hours=1)


@pytest.fixture
def idle(postgres_url, base_env, monkeypatch):
    """The app on PostgreSQL and the in-process broker, with no worker running: whatever the
    sweeper sends stays on the queue, to be counted. Call it with extra settings."""
    running = []

    def _start(**env: str):
        monkeypatch.setenv("DATABASE_URL", postgres_url)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        running.append(start_service(with_worker=False))
        return running[-1]

    yield _start
    for service in running:
        service.stop()


def _strand_events(service, count: int) -> list[int]:
    """`count` inbox rows left pending an hour ago: Redis lost their messages."""
    deliveries = [
        NewInboxRow("shopify", f"stranded-{n}", "orders/create", {}, b"{}", handled=True)
        for n in range(count)
    ]
    with service.runtime.engine.begin() as connection:
        ids = record(connection, deliveries)
        connection.execute(update(Inbox).values(touched_at=LONG_AGO))
    return ids


def _strand_notifications(service, count: int) -> list[int]:
    """`count` emails left pending an hour ago, on one order."""
    with service.runtime.sessions.begin() as session:
        order = Order(
            platform="shopify",
            external_id="stranded",
            platform_status="paid",
            status="processing",
            created_at=LONG_AGO,
            updated_at=LONG_AGO,
        )
        session.add(order)
        session.flush()
        rows = [
            Outbox(
                order_id=order.id,
                kind="shipped",
                channel="email",
                recipient=f"customer{n}@example.com",
                status="pending",
                created_at=LONG_AGO,
                touched_at=LONG_AGO,
            )
            for n in range(count)
        ]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def _taken(service, queue: str) -> list[int]:
    """Every id waiting on one of the in-process broker's queues, taken off it."""
    waiting = service.runtime.broker.queues[queue]
    ids = []
    while not waiting.empty():
        ids.append(Message.decode(waiting.get_nowait()).args[0])
        waiting.task_done()
    return ids


class Holder:
    """Another client of the database holding rows locked (FOR UPDATE) in an open
    transaction: a worker stuck mid-transaction, or someone at a psql prompt."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.connection = self.engine.connect()
        self.transaction = self.connection.begin()

    def lock(self, model, row_id: int) -> None:
        self.connection.execute(select(model.id).where(model.id == row_id).with_for_update())

    def release(self) -> None:
        self.transaction.rollback()
        self.connection.close()
        self.engine.dispose()


def _sweep_in_background(service) -> tuple[threading.Thread, list]:
    results: list = []
    thread = threading.Thread(
        target=lambda: results.append(sweep_once(service.runtime)), daemon=True
    )
    thread.start()
    return thread, results


def test_a_row_another_transaction_holds_locked_does_not_stop_the_sweeper(idle, postgres_url):
    service = idle()
    events = _strand_events(service, 3)
    notifications = _strand_notifications(service, 3)
    holder = Holder(postgres_url)
    holder.lock(Inbox, events[1])
    holder.lock(Outbox, notifications[0])
    try:
        thread, results = _sweep_in_background(service)
        thread.join(timeout=10)
        finished = not thread.is_alive()
    finally:
        holder.release()
    thread.join(timeout=30)

    assert finished, "the sweeper waited for a row another transaction holds"
    assert results == [(2, 2)]
    assert sorted(_taken(service, "events")) == [events[0], events[2]]
    assert sorted(_taken(service, "notifications")) == notifications[1:]
    # The locked rows were left as they were, for the next sweep (or their holder).
    assert sweep_once(service.runtime) == (1, 1)
    assert _taken(service, "events") == [events[1]]
    assert _taken(service, "notifications") == [notifications[0]]


def test_a_backlog_of_5000_stranded_events_goes_to_the_queue_in_one_pass_as_workers_take_it(
    idle,
):
    service = idle()
    stranded = _strand_events(service, 5000)
    waiting = service.runtime.broker.queues["events"]
    taken: list[int] = []
    deepest = [0]
    stop = threading.Event()

    def worker() -> None:
        """Takes each message as soon as it is there, as idle workers would."""
        while not stop.is_set() or not waiting.empty():
            deepest[0] = max(deepest[0], waiting.qsize())
            try:
                taken.append(Message.decode(waiting.get(timeout=0.05)).args[0])
            except queue.Empty:
                continue
            waiting.task_done()

    consumer = threading.Thread(target=worker, daemon=True)
    consumer.start()
    started = time.monotonic()
    try:
        swept = sweep_once(service.runtime)
    finally:
        elapsed = time.monotonic() - started
        stop.set()
        consumer.join(timeout=10)

    assert swept == (5000, 0)
    assert sorted(taken) == stranded, "each stranded row sent once, none left behind"
    assert elapsed < 10, f"one pass took {elapsed:.1f} s"
    assert sweep_once(service.runtime) == (0, 0), "all of them touched: none sent twice"


def test_a_backlog_no_worker_takes_fills_the_queue_only_up_to_its_limit(
    postgres_url, base_env, smtp, monkeypatch, tmp_path
):
    """On Redis: with every worker down, one pass stops at SWEEP_QUEUE_LIMIT messages waiting
    and within its time (SWEEP_INTERVAL_SECONDS); the rest wait, untouched, for the next."""
    monkeypatch.setenv("SWEEP_QUEUE_LIMIT", "1000")
    monkeypatch.setenv("SWEEP_INTERVAL_SECONDS", "1")
    with redis_stack(postgres_url, tmp_path, monkeypatch) as stack:
        service = stack.service
        _strand_events(service, 3000)
        started = time.monotonic()
        events, _ = sweep_once(service.runtime)
        elapsed = time.monotonic() - started
        queued = stack.redis.client().llen("ordertrack:events")

        assert 1000 <= events < 1500, "up to the limit, plus at most one batch"
        assert queued == events
        assert elapsed < 3, f"the pass ran {elapsed:.1f} s past its time"
        with service.runtime.sessions() as session:
            untouched = session.scalar(
                text("SELECT count(*) FROM inbox WHERE touched_at < :t"),
                {"t": LONG_AGO + timedelta(minutes=1)},
            )
        assert untouched == 3000 - events
