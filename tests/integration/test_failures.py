"""Faults, injected for real: Redis crashed or frozen, the database unreachable, events that
can never be processed, a worker killed with SIGKILL mid-batch. Whatever was answered 2xx
ends processed (or failed, visibly); nothing is lost and nothing is sent twice."""

import json
import os
import signal
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text, update

from ordertrack.store.inbox import NewInboxRow
from ordertrack.store.models import Inbox
from tests.support.harness import start_service
from tests.support.processes import redis_stack, wait_for
from tests.support.smtp import free_port
from tests.support.webhooks import ORDER_ID, STORY, easypost, shopify
from workers.broker import SOCKET_TIMEOUT

CUSTOMER = "ada@example.com"
DEAD_LETTERS = "ordertrack:events.XQ"


@pytest.fixture
def stack(postgres_url, base_env, smtp, monkeypatch, tmp_path):
    with redis_stack(postgres_url, tmp_path, monkeypatch) as running:
        yield running


def _post_fast(stack, request) -> None:
    started = time.monotonic()
    response = stack.service.post(request)
    elapsed = time.monotonic() - started
    assert response.status_code == 202, response.json
    assert elapsed < 2, f"{request.name} took {elapsed:.2f} s"


def _order_status(stack) -> str | None:
    response = stack.service.api(f"/api/v1/orders/shopify/{ORDER_ID}")
    return response.json["status"] if response.status_code == 200 else None


def _dead_letters_for(stack, inbox_id: int) -> list[dict]:
    """Dramatiq's dead-letter set (a sorted set of ids, the bodies in a hash beside it)."""
    client = stack.redis.client()
    letters = []
    for member in client.zrange(DEAD_LETTERS, 0, -1):
        raw = client.hget(f"{DEAD_LETTERS}.msgs", member)
        letter = json.loads(raw) if raw else None
        if letter and letter["args"] == [inbox_id]:
            letters.append(letter)
    return letters


def _assert_one_email_per_sent_notification(stack, smtp) -> list[str]:
    sent = sorted(row.kind for row in stack.outbox() if row.status == "sent")
    emails = smtp.to(CUSTOMER)
    assert len(emails) == len(sent), [m["Subject"] for m in emails]
    assert len({m["Message-ID"] for m in emails}) == len(emails)
    return sent


# Redis


def test_redis_crashed_webhooks_still_get_202_fast_and_the_sweeper_delivers_them_later(
    stack, smtp, caplog
):
    stack.worker()
    stack.redis.crash()

    for request in (shopify("orders_create"), shopify("fulfillments_create")):
        _post_fast(stack, request)

    def given_up() -> bool:
        failed = [r.args[0] for r in caplog.records if r.msg.startswith("could not enqueue")]
        return sum(failed) == 2

    wait_for(given_up, timeout=10, what="the app to give up enqueueing both rows")
    assert [(row.status, row.attempts) for row in stack.inbox()] == [("pending", 0)] * 2
    ready = stack.service.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["checks"] == {"database": True, "broker": False}

    stack.redis.start()  # same port, empty: whatever was queued is gone
    assert stack.sweep_once(SWEEP_AFTER_SECONDS="0") == 2
    stack.wait_settled()
    assert _order_status(stack) == "shipped"
    assert _assert_one_email_per_sent_notification(stack, smtp) == ["shipped"]

    # Redis is back for the app too: the next webhook goes through without a sweep.
    _post_fast(stack, easypost("tracker_updated__in_transit"))
    wait_for(lambda: _order_status(stack) == "in_transit", timeout=15, what="in_transit")
    stack.wait_settled()
    assert {row.status for row in stack.inbox()} == {"processed"}
    assert len(smtp.to(CUSTOMER)) == 1, "in transit is still 'shipped' news: no second email"


def test_redis_frozen_webhooks_still_get_202_and_readiness_answers_within_the_socket_timeout(
    stack,
):
    stack.redis.freeze()
    try:
        _post_fast(stack, shopify("orders_create"))
        answers = []
        probe = threading.Thread(
            target=lambda: answers.append(stack.service.client.get("/readyz")), daemon=True
        )
        probe.start()
        probe.join(timeout=SOCKET_TIMEOUT + 1)
        in_time = not probe.is_alive()
    finally:
        stack.redis.thaw()
    probe.join(timeout=10)
    assert in_time, f"/readyz did not answer within {SOCKET_TIMEOUT + 1} s on a frozen Redis"
    assert answers[0].status_code == 503
    assert answers[0].json["checks"] == {"database": True, "broker": False}
    assert [row.status for row in stack.inbox()] == ["pending"]


# The database


class Blackhole:
    """A TCP port that accepts connections and never says a word: a hung database."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.1)
        self.port = self.server.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                self.accepted.append(self.server.accept()[0])
            except TimeoutError:
                continue

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        for connection in self.accepted:
            connection.close()
        self.server.close()


@pytest.fixture(params=["hung", "refusing"])
def unreachable_database(request, base_env, monkeypatch):
    """The app with DATABASE_URL at a port that hangs, or at one nobody listens on."""
    if request.param == "hung":
        blackhole = Blackhole()
        request.addfinalizer(blackhole.close)
        port = blackhole.port
    else:
        port = free_port()
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://root@127.0.0.1:{port}/test")
    # The production default: the promise under test is 503 within 2 s of it.
    monkeypatch.setenv("COMMIT_TIMEOUT_SECONDS", "1.5")
    service = start_service(with_worker=False)
    yield service
    service.stop()


def test_database_unreachable_answers_503_with_a_json_error_within_2_seconds(
    unreachable_database,
):
    started = time.monotonic()
    response = unreachable_database.post(shopify("orders_create"))
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.json["status"] == 503
    assert response.json["error"]
    assert elapsed < 2, f"took {elapsed:.2f} s"
    ready = unreachable_database.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["checks"]["database"] is False


# Events that can never be processed


def test_a_stored_event_that_can_never_be_parsed_fails_at_once_and_is_dead_lettered(stack):
    broken = NewInboxRow(
        source="shopify",
        dedupe_key="broken-body-1",
        topic="orders/create",
        headers={},
        body=b'{"id": 5531234567890, "name": "#1042"',
        handled=True,
    )
    [inbox_id] = stack.store_raw([broken])
    message = stack.service.runtime.actors.process_event.send(inbox_id)
    stack.worker()

    [dead] = wait_for(
        lambda: _dead_letters_for(stack, inbox_id), timeout=15, what="the dead letter"
    )
    [row] = stack.inbox()
    assert row.status == "failed"
    assert row.attempts == 1
    assert row.last_error.startswith("MalformedPayload")
    assert dead["message_id"] == message.message_id
    assert dead["options"].get("retries", 0) == 0, "a permanent failure is not retried"


def test_an_event_whose_writes_the_database_keeps_refusing_fails_after_max_attempts(
    stack, base_env
):
    with stack.service.runtime.engine.begin() as connection:
        connection.execute(
            text(
                "CREATE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'injected fault: orders are read-only'; END $$"
            )
        )
        connection.execute(
            text(
                "CREATE TRIGGER refuse_orders BEFORE INSERT OR UPDATE ON orders "
                "FOR EACH ROW EXECUTE FUNCTION refuse_write()"
            )
        )
    stack.worker()
    _post_fast(stack, shopify("orders_create"))

    wait_for(
        lambda: stack.inbox()[0].status == "failed", timeout=15, what="the row to fail for good"
    )
    [row] = stack.inbox()
    max_attempts = int(base_env["MAX_ATTEMPTS"])
    assert row.attempts == max_attempts
    assert "injected fault: orders are read-only" in row.last_error
    [dead] = wait_for(lambda: _dead_letters_for(stack, row.id), timeout=10, what="the dead letter")
    assert dead["options"]["retries"] == max_attempts - 1
    assert _order_status(stack) is None


# Killed workers and the sweeper


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_supervisor_replaces_a_worker_process_killed_with_sigkill(stack, smtp):
    supervisor = stack.worker(threads=2)
    [child] = _children(supervisor.pid)
    os.kill(child, signal.SIGKILL)

    [replacement] = wait_for(
        lambda: [c for c in _children(supervisor.pid) if c != child] or None,
        timeout=10,
        what="a replacement worker process",
    )
    assert supervisor.running()
    for request in (shopify("orders_create"), shopify("fulfillments_create")):
        _post_fast(stack, request)
    stack.wait_settled()
    assert _order_status(stack) == "shipped"
    assert replacement in _children(supervisor.pid)
    assert _assert_one_email_per_sent_notification(stack, smtp) == ["shipped"]


def test_worker_killed_mid_batch_loses_nothing_once_a_new_worker_and_the_sweeper_run(stack, smtp):
    first = stack.worker(threads=4)
    _post_fast(stack, shopify("orders_create"))
    wait_for(lambda: stack.inbox_statuses() == {"processed": 1}, timeout=15, what="the order")

    # Hold the order's row lock, so the worker's threads stop mid-transaction on it.
    with stack.service.runtime.engine.connect() as blocker, blocker.begin():
        blocker.execute(
            text("SELECT id FROM orders WHERE external_id = :id FOR UPDATE"), {"id": ORDER_ID}
        )
        for request in STORY[1:]:
            _post_fast(stack, request)
        # Every worker thread ends up waiting: orders/paid and the fulfillments on the order's
        # lock, carrier events on their tracking number's lock, which a fulfillment holds.
        wait_for(
            lambda: stack.inbox_statuses()["processing"] == 4,
            timeout=15,
            what="four events in flight",
        )
        first.kill()
    killed = [row.id for row in stack.inbox() if row.status == "processing"]
    assert len(killed) == 4
    assert not smtp.messages

    stack.worker(threads=4)
    stack.sweeper(SWEEP_AFTER_SECONDS="1", SWEEP_INTERVAL_SECONDS="1")
    stack.wait_settled(timeout=40)

    rows = stack.inbox()
    assert len(rows) == len(STORY)
    assert {row.status for row in rows} == {"processed"}
    assert all(row.attempts >= 2 for row in rows if row.id in killed), "killed attempt counted"
    order = stack.service.order(ORDER_ID)
    assert (order["status"], order["progress"]) == ("delivered", "2 of 2 delivered")
    assert "delivered" in _assert_one_email_per_sent_notification(stack, smtp)


def test_sweeper_re_enqueues_only_rows_left_pending_longer_than_sweep_after_seconds(stack, smtp):
    overdue = stack.store_without_enqueueing(
        [shopify("orders_create"), shopify("fulfillments_create")]
    )
    [recent] = stack.store_without_enqueueing([easypost("tracker_updated__in_transit")])
    long_ago = datetime.now(UTC) - timedelta(minutes=2)
    with stack.service.runtime.engine.begin() as connection:
        connection.execute(update(Inbox).where(Inbox.id.in_(overdue)).values(touched_at=long_ago))
    stack.worker()

    assert stack.sweep_once(SWEEP_AFTER_SECONDS="60") == 2
    wait_for(lambda: _order_status(stack) == "shipped", timeout=15, what="the overdue rows")
    wait_for(
        lambda: all(r.status == "processed" for r in stack.inbox() if r.id in overdue),
        timeout=10,
        what="the overdue rows to finish",
    )
    [waiting] = [row for row in stack.inbox() if row.id == recent]
    assert (waiting.status, waiting.attempts) == ("pending", 0)

    assert stack.sweep_once(SWEEP_AFTER_SECONDS="0") == 1
    stack.wait_settled()
    assert _order_status(stack) == "in_transit"
    assert _assert_one_email_per_sent_notification(stack, smtp) == ["shipped"]
