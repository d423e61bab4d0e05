"""Redis and the queue under faults (fault matrix Q-6 to Q-8, Q-10, Q-12): a private
redis-server restarted, crashed with its data, frozen with SIGSTOP, or handed a message no
one can decode; and a backlog waiting for workers that were all down. Real `ordertrack
worker` and `ordertrack sweep` processes, PostgreSQL, a real SMTP server. Counted after each
fault as the matrix counts: every order's email at the sink exactly once (I2 to I4)."""

import re
import time
from contextlib import contextmanager

import pytest

from tests.support.processes import NAMESPACE, redis_stack, wait_for
from tests.support.queue_faults import (
    DurableRedis,
    customer,
    drained,
    new_orders,
    peak_rss_mb,
    post_orders,
    queued_ids,
    stack_on,
    start_mailbox,
    tally,
    unacked_by,
    worker_child,
)
from workers.broker import SOCKET_TIMEOUT
from workers.enqueue import send_many


@pytest.fixture
def mailbox(monkeypatch):
    controller, recorder = start_mailbox(monkeypatch)
    yield recorder
    controller.stop()


@pytest.fixture
def stack(postgres_url, base_env, mailbox, monkeypatch, tmp_path):
    with redis_stack(postgres_url, tmp_path, monkeypatch) as running:
        yield running


@contextmanager
def _durable_stack(postgres_url, monkeypatch, tmp_path):
    with stack_on(DurableRedis(tmp_path), postgres_url, tmp_path, monkeypatch) as running:
        yield running


def _redriven(sweeper) -> int:
    """Notifications the sweeper process re-enqueued, from its log."""
    found = re.findall(r"sweeper re-enqueued \d+ events, (\d+) notifications", sweeper.log(10**6))
    return sum(int(n) for n in found)


@pytest.mark.fault("Q-6")
def test_retries_pending_when_redis_restarts_all_still_run(
    postgres_url, base_env, mailbox, monkeypatch, tmp_path, figures
):
    """A retry waits in the worker's memory (Dramatiq's delay queue) until it is due; a Redis
    restart makes the worker drop it there, its id parked under the live worker for good
    (docs/reliability.md, "Dramatiq on Redis"; Dramatiq #527). The database still says
    `pending`: the sweeper sends it once it is overdue."""
    orders = 10
    monkeypatch.setenv("RETRY_MIN_BACKOFF_MS", "3000")  # due again 3 to 6 s after the 451
    monkeypatch.setenv("RETRY_MAX_BACKOFF_MS", "6000")
    for n in range(orders):
        mailbox.scripted[customer(n)] = ["451 4.3.0 Try again later"]
    with _durable_stack(postgres_url, monkeypatch, tmp_path) as stack:
        worker = stack.worker(threads=4)
        sweeper = stack.sweeper(SWEEP_INTERVAL_SECONDS="1", SWEEP_AFTER_SECONDS="3")
        post_orders(stack, range(orders))
        wait_for(
            lambda: [(r.status, r.attempts) for r in stack.outbox()] == [("pending", 1)] * orders,
            timeout=30,
            what="every email to wait for its retry",
        )
        restarted = time.monotonic()
        stack.redis.shut_down()
        time.sleep(1)
        stack.redis.start()
        stack.wait_settled(timeout=60)
        took = time.monotonic() - restarted

        result = tally(stack, mailbox)
        assert result.sent == orders, "every retry ran"
        assert result.duplicates == 0, "I4"
        assert {r.attempts for r in stack.outbox()} == {2}
        assert all(mailbox.attempts[customer(n)] == 2 for n in range(orders))
        assert worker.running(), "the workers stayed up"
        assert took < 60, "within the retry's due time and T_drain"
        figures.add("N", f"{orders} retries pending, Redis down 1 s (AOF always)")
        figures.add("re-enqueued by the sweeper", f"{_redriven(sweeper)} of {orders}")
        figures.add("all sent", f"{took:.1f} s after the restart (SWEEP_AFTER_SECONDS 3)")


@pytest.mark.fault("Q-7")
def test_redis_crashing_with_its_data_loses_nothing_the_sweeper_sends_it_from_the_database(
    stack, mailbox, figures
):
    orders = 40
    stack.worker(threads=4)
    sweeper = stack.sweeper(SWEEP_INTERVAL_SECONDS="1", SWEEP_AFTER_SECONDS="2")
    post_orders(stack, range(orders))
    stack.redis.crash()  # kill -9, no persistence: every message in it is gone
    unfinished = sum(r.status != "processed" for r in stack.inbox())
    crashed = time.monotonic()
    stack.redis.start()  # empty, on the same port
    stack.wait_settled(timeout=60)
    took = time.monotonic() - crashed

    assert stack.inbox_statuses() == {"processed": 2 * orders}
    result = tally(stack, mailbox)
    assert result.sent == orders, "I2, I3"
    assert result.duplicates == 0, "I4"
    figures.add("N", f"{orders} orders; {unfinished} of {2 * orders} events unapplied at the crash")
    figures.add("re-enqueued by the sweeper", f"{_redriven(sweeper)} notifications")
    figures.add("drained", f"{took:.1f} s after the crash (SWEEP_AFTER_SECONDS 2)")


#: Seconds Redis stays frozen (the matrix says 20; shortened for the suite's time budget).
FREEZE = 5
#: The sweeper waits this long before re-driving: longer than the probe's 10 s budget, so
#: the probe shows the workers' own consumers came back, not the sweeper.
FROZEN_SWEEP_AFTER = 10


@pytest.mark.fault("Q-8")
def test_a_frozen_redis_holds_no_thread_and_every_consumer_works_again_after_the_thaw(
    postgres_url, base_env, mailbox, monkeypatch, tmp_path, figures
):
    """Every notification waits NOTIFY_COALESCE_SECONDS (5 s in production) in the worker's
    delay queue, the probe's too; and when Redis freezes, one message due in a minute (as a
    Retry-After or quiet hours make one) is waiting there."""
    monkeypatch.setenv("NOTIFY_COALESCE_SECONDS", "1")
    orders = 20
    with redis_stack(postgres_url, tmp_path, monkeypatch) as stack:
        worker = stack.worker(threads=4)
        sweeper = stack.sweeper(
            SWEEP_INTERVAL_SECONDS="1", SWEEP_AFTER_SECONDS=str(FROZEN_SWEEP_AFTER)
        )
        pids = (worker_child(worker), sweeper.pid)
        post_orders(stack, range(orders))
        first = wait_for(lambda: _sent_to(stack, customer(0)), timeout=30, what="an email")
        send = stack.service.runtime.actors.send_notification
        send.send_with_options(args=(first.id,), delay=60_000)  # long sent: a no-op, later
        wait_for(lambda: _in_memory(stack), timeout=10, what="the worker to hold it, delayed")
        stack.redis.freeze()
        frozen = time.monotonic()
        answers = []
        for n in range(orders, orders + 3):  # orders keep coming while Redis is frozen
            asked = time.monotonic()
            post_orders(stack, [n])
            answers.append(time.monotonic() - asked)
        time.sleep(max(0.0, FREEZE - (time.monotonic() - frozen)))
        stack.redis.thaw()
        thawed = time.monotonic()

        probe = orders + 3
        post_orders(stack, [probe])
        _with_logs(
            stack,
            lambda: wait_for(
                lambda: _sent_to(stack, customer(probe)),
                timeout=10,
                what="the probe's email within 10 s of the thaw",
            ),
        )
        probe_took = time.monotonic() - thawed
        stack.wait_settled(timeout=60)
        drained = time.monotonic() - thawed

        assert max(answers) <= SOCKET_TIMEOUT + 1, "no request held by the frozen Redis"
        result = tally(stack, mailbox)
        assert result.sent == orders + 4, "I2, I3"
        assert result.duplicates == 0, "I4"
        assert (worker_child(worker), sweeper.pid) == pids, "no process had to be restarted"
        figures.add("frozen", f"{FREEZE} s (matrix: 20 s), {orders + 4} orders")
        figures.add("slowest webhook answer while frozen", f"{max(answers) * 1000:.0f} ms")
        figures.add("probe sent", f"{probe_took:.1f} s after the thaw")
        figures.add("drained", f"{drained:.1f} s after the thaw")


def _sent_to(stack, recipient: str):
    """The recipient's notification, once it is sent."""
    sent = [r for r in stack.outbox() if r.recipient == recipient and r.status == "sent"]
    return sent[0] if sent else None


def _in_memory(stack) -> bool:
    """A worker has taken a delayed notification, to hold until it is due."""
    delayed = queued_ids(stack, "notifications.DQ")
    return any(unacked_by(stack, "notifications.DQ", redis_id) for redis_id in delayed)


def _with_logs(stack, wait) -> None:
    """A wait that fails with the processes' logs."""
    try:
        wait()
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{stack.logs()}") from None


#: A body no Dramatiq worker can decode, under an id of the broker's own namespace.
GARBAGE_ID = "not-a-message"
GARBAGE = b"\x00\xffnot json at all {"


@pytest.mark.fault("Q-10")
def test_an_undecodable_message_is_set_aside_once_and_the_good_ones_around_it_are_processed(
    stack, mailbox, figures
):
    orders = 50
    client = stack.redis.client()
    client.hset(f"{NAMESPACE}:events.msgs", GARBAGE_ID, GARBAGE)
    client.rpush(f"{NAMESPACE}:events", GARBAGE_ID)
    post_orders(stack, range(orders))  # queued behind it, fetched with it in one batch
    started = time.monotonic()
    worker = stack.worker(threads=4)  # no sweeper: the worker alone must get them all done
    stack.wait_settled(timeout=30)
    took = time.monotonic() - started

    result = tally(stack, mailbox)
    assert result.sent == orders and result.duplicates == 0
    assert stack.inbox_statuses() == {"processed": 2 * orders}
    # Set aside: in the dead-letter queue as it came, neither queued nor held by a worker.
    assert client.hget(f"{NAMESPACE}:events.XQ.msgs", GARBAGE_ID) == GARBAGE
    assert GARBAGE_ID.encode() not in client.lrange(f"{NAMESPACE}:events", 0, -1)
    held = [k for k in client.scan_iter(match=f"{NAMESPACE}:__acks__.*")]
    assert not any(client.sismember(k, GARBAGE_ID) for k in held)
    log = worker.log(10**6)
    assert log.count(GARBAGE_ID) == 1, "logged once, by its id, not looped"
    assert "not json" not in log, "its content is not logged"
    figures.add("N", f"{orders} orders ({2 * orders} events) behind 1 undecodable message")
    figures.add("all processed", f"{took:.1f} s after the worker started")


#: The matrix's bound on a worker process's memory while it drains a backlog.
RSS_BOUND_MB = 300


@pytest.mark.fault("Q-12")
def test_a_backlog_queued_with_every_worker_down_drains_in_bounded_memory(
    postgres_url, base_env, mailbox, monkeypatch, tmp_path, figures
):
    """The emails the backlog causes wait NOTIFY_COALESCE_SECONDS in the worker's delay queue,
    as in production: Dramatiq takes up to 1000 delayed messages per thread into memory."""
    monkeypatch.setenv("NOTIFY_COALESCE_SECONDS", "1")
    orders = 100
    with redis_stack(postgres_url, tmp_path, monkeypatch) as stack:
        ids = stack.store_raw(new_orders(range(orders)))
        send_many(stack.service.runtime.actors.process_event, ids)
        assert stack.redis.client().llen(f"{NAMESPACE}:events") == 2 * orders
        started = time.monotonic()
        worker = stack.worker(threads=4)
        child = worker_child(worker)
        wait_for(lambda: drained(stack), timeout=120, what="the backlog to drain", interval=0.2)
        took = time.monotonic() - started
        peak = peak_rss_mb(child)

        assert stack.inbox_statuses() == {"processed": 2 * orders}
        result = tally(stack, mailbox)
        assert result.sent == orders and result.duplicates == 0, "I2 to I4"
        assert peak < RSS_BOUND_MB
    messages = 3 * orders  # two events and one email per order
    figures.add("N", f"{orders} orders: {2 * orders} events queued, {orders} emails they cause")
    figures.add("throughput", f"{messages / took:.0f} msgs/s ({took:.1f} s, worker start included)")
    figures.add("worker peak RSS", f"{peak:.0f} MB (bound {RSS_BOUND_MB} MB)")
