"""Worker processes killed or stopped mid-work (fault matrix Q-1 to Q-3, Q-5, Q-9, Q-11):
real `ordertrack worker` and `ordertrack sweep` processes on a private Redis, PostgreSQL, a
real SMTP server and a Twilio-shaped HTTP server. Each kill lands exactly where its row says,
because the sink holds the message at that step until the kill is in place: a worker killed
before the send costs nothing but the attempt; killed after the provider took the message,
before our commit, an email may go twice (with one Message-ID) and a text is looked up, not
sent again; killed after the commit, before the acknowledgement, the redelivery is a no-op.

Two waits stand between a dead worker and the next: the send lease (minutes, worked out from
every channel's timeouts) before its claimed row goes to another worker, and the heartbeat
timeout (15 s) before Dramatiq hands its unacknowledged messages on. Rather than wait them
out, these tests move the row's last touch back by the lease, and make the dead worker's
heartbeat stale: the only stand-ins for time passing."""

import socket
import threading
import time
from contextlib import contextmanager, suppress

import pytest
from sqlalchemy import select

from ordertrack.store.alert_models import Alert
from tests.support.processes import NAMESPACE, redis_stack, wait_for
from tests.support.queue_faults import (
    DurableRedis,
    RowLock,
    TwilioServer,
    attempt_log,
    customer,
    kill_child,
    lease_runs_out,
    lock_waiters,
    outbox_row,
    phone,
    post_orders,
    queued_ids,
    redeliver_from_dead,
    stack_on,
    start_mailbox,
    tally,
    unacked_by,
)

#: The sweeper as the crash rows run it: every second, re-driving what the queue lost after
#: 2 s (60 s in production), so that prefetched messages a kill strands come back soon.
SWEEPER = {"SWEEP_INTERVAL_SECONDS": "1", "SWEEP_AFTER_SECONDS": "2"}
#: How long a stopping worker process waits for its threads (workers/supervisor.py).
SHUTDOWN_TIMEOUT = 30
#: Seconds; SMTP_TIMEOUT for the silent server (10 s in production).
SMTP_TIMEOUT = 2


@pytest.fixture
def mailbox(monkeypatch):
    controller, recorder = start_mailbox(monkeypatch)
    yield recorder
    for gate in recorder.gates.values():
        gate.open()
    controller.stop()


@contextmanager
def _stack(postgres_url, monkeypatch, tmp_path, texts: TwilioServer | None = None):
    if texts is not None:
        for name, value in texts.env.items():
            monkeypatch.setenv(name, value)
    with redis_stack(postgres_url, tmp_path, monkeypatch) as running:
        yield running


@pytest.fixture
def stack(postgres_url, base_env, mailbox, monkeypatch, tmp_path):
    with _stack(postgres_url, monkeypatch, tmp_path) as running:
        yield running


@pytest.fixture
def texts():
    server = TwilioServer().start()
    yield server
    server.stop()


@pytest.fixture
def texting_stack(postgres_url, base_env, mailbox, texts, monkeypatch, tmp_path):
    with _stack(postgres_url, monkeypatch, tmp_path, texts) as running:
        yield running


ORDERS = 20


def _all_others_sent(stack, victim: str) -> bool:
    """Every email but the victim's is sent: the worker's other thread has nothing in hand."""
    others = [r.status for r in stack.outbox() if r.recipient != victim]
    return len(others) == ORDERS - 1 and set(others) == {"sent"}


@pytest.mark.fault("Q-1")
def test_a_worker_killed_before_the_send_costs_its_attempt_and_nothing_else(
    stack, mailbox, figures
):
    victim = customer(ORDERS - 1)
    gate = mailbox.hold(victim, "RCPT")  # connected, nothing of the message accepted
    supervisor = stack.worker(threads=2)
    stack.sweeper(**SWEEPER)
    post_orders(stack, range(ORDERS))

    gate.wait_reached()
    wait_for(lambda: _all_others_sent(stack, victim), timeout=30, what="the others sent")
    claimed = outbox_row(stack, victim)
    assert (claimed.status, claimed.attempts) == ("sending", 1)
    killed_at = time.monotonic()
    kill_child(supervisor)
    gate.open()
    lease_runs_out(stack, claimed.id)
    stack.wait_settled(timeout=60)
    recovered = time.monotonic() - killed_at

    result = tally(stack, mailbox)
    assert result.sent == ORDERS, "I3: every order's email"
    assert result.duplicates == 0, "I4: nothing had left before the kill"
    row = outbox_row(stack, victim)
    assert (row.status, row.attempts) == ("sent", 2), "the killed attempt counted"
    assert attempt_log(stack, row.id) == [(1, "unknown"), (2, "sent")]
    assert stack.inbox_statuses() == {"processed": 2 * ORDERS}
    assert supervisor.running()
    figures.add("N", f"{ORDERS} orders, 1 kill")
    figures.add("recovered", f"{recovered:.1f} s after the kill (lease moved on)")
    figures.add("duplicates", result.duplicates)


@pytest.mark.fault("Q-2")
def test_a_worker_killed_after_the_provider_took_it_sends_an_email_twice_at_most_a_text_once(
    texting_stack, mailbox, texts, figures
):
    stack = texting_stack
    email_victim, text_victim = 3, ORDERS
    email_gate = mailbox.hold(customer(email_victim), "DATA")  # stored, 250 not yet given
    text_gate = texts.hold(phone(text_victim))  # created, 201 not yet given
    supervisor = stack.worker(threads=2)
    stack.sweeper(**SWEEPER)
    post_orders(stack, range(ORDERS))
    post_orders(stack, [text_victim], texts=True)

    email_gate.wait_reached()
    text_gate.wait_reached()
    held = [outbox_row(stack, customer(email_victim)), outbox_row(stack, phone(text_victim))]
    # The providers answer; the rows are locked, so the worker cannot commit what they said.
    lock = RowLock(stack, [row.id for row in held])
    email_gate.open()
    text_gate.open()
    wait_for(lambda: lock_waiters(stack) >= 2, timeout=20, what="both commits to wait")
    kill_child(supervisor)
    lock.release()
    for row in held:
        left = next(r for r in stack.outbox() if r.id == row.id)
        assert (left.status, left.attempts) == ("sending", 1), "the outcome never committed"
        lease_runs_out(stack, row.id)
    stack.wait_settled(timeout=60)

    result = tally(stack, mailbox, texts)
    email = outbox_row(stack, customer(email_victim))
    copies = mailbox.to(customer(email_victim))
    assert len(copies) == 2, "the email is sent again: nothing tells whether it went"
    assert {m["Message-ID"] for m in copies} == {email.message_id}, "a recognisable copy"
    text = outbox_row(stack, phone(text_victim))
    [created] = texts.to(phone(text_victim))
    posts = [form for _, form in texts.fake.posts if form["To"] == phone(text_victim)]
    assert len(posts) == 1, "the text was looked up in Twilio's list, not sent again"
    assert any(q.get("To") == [phone(text_victim)] for q in texts.fake.lookups)
    assert (text.status, text.message_id) == ("sent", created["sid"])
    assert (email.attempts, text.attempts) == (2, 2)
    assert result.duplicates == 1, "I4: one kill in the ambiguous window, one email copy"
    # Every order's "shipped" (the text order's may be stale by the time it is due: its
    # parcel is out for delivery already), the text order's "out for delivery", its text.
    assert ORDERS + 2 <= result.sent <= ORDERS + 3
    figures.add("N", f"{ORDERS + 1} orders, 1 kill with an email and a text in flight")
    figures.add("duplicates", "1 email (same Message-ID), 0 texts")


@pytest.fixture
def durable_stack(postgres_url, base_env, mailbox, monkeypatch, tmp_path):
    with stack_on(DurableRedis(tmp_path), postgres_url, tmp_path, monkeypatch) as running:
        yield running


@pytest.mark.fault("Q-3")
def test_a_worker_killed_after_its_commit_before_its_ack_gets_a_redelivery_that_does_nothing(
    durable_stack, mailbox, figures
):
    stack = durable_stack
    victim = customer(ORDERS - 1)
    gate = mailbox.hold(victim, "DATA")
    supervisor = stack.worker(threads=2)
    stack.sweeper(**SWEEPER)
    post_orders(stack, range(ORDERS))

    gate.wait_reached()
    wait_for(lambda: _all_others_sent(stack, victim), timeout=30, what="the others sent")
    # Redis goes down before the 250 (every write it acknowledged is in its append-only
    # file): the worker commits `sent`, then cannot acknowledge the message, and is killed
    # while it waits to try again. (A frozen Redis would not do: the ack would sit in its
    # socket and be run on thawing.)
    stack.redis.crash()
    gate.open()
    wait_for(lambda: outbox_row(stack, victim).status == "sent", timeout=20, what="the commit")
    kill_child(supervisor)
    stack.redis.start()
    row = outbox_row(stack, victim)
    [redis_id] = [k for k, v in queued_ids(stack, "notifications").items() if v == row.id]
    dead = unacked_by(stack, "notifications", redis_id)
    assert len(dead) == 1, "held, unacknowledged, by the killed worker"
    stale_at = time.monotonic()
    redeliver_from_dead(stack, "notifications", dead)
    wait_for(
        lambda: redis_id not in queued_ids(stack, "notifications"),
        timeout=30,
        what="the message to be redelivered and acknowledged",
    )
    took = time.monotonic() - stale_at
    client = stack.redis.client()
    assert client.zscore(f"{NAMESPACE}:notifications.XQ", redis_id) is None, "acknowledged"
    stack.wait_settled(timeout=60)

    result = tally(stack, mailbox)
    assert result.sent == ORDERS
    assert result.duplicates == 0, "I4: the redelivery found the row sent"
    after = outbox_row(stack, victim)
    assert (after.status, after.attempts) == ("sent", 1)
    assert attempt_log(stack, row.id) == [(1, "sent")]
    figures.add("N", f"{ORDERS} orders, 1 kill")
    figures.add("redelivered and acknowledged", f"{took:.1f} s after Dramatiq's recovery")
    figures.add("duplicates", 0)


def _taken_and_unacknowledged(stack) -> int:
    """Messages some worker took off a queue and has not acknowledged."""
    client = stack.redis.client()
    return sum(client.scard(key) for key in client.scan_iter(match=f"{NAMESPACE}:__acks__.*"))


@pytest.mark.fault("Q-5")
def test_sigterm_during_load_finishes_what_is_in_hand_and_the_next_worker_sends_the_rest_once(
    stack, mailbox, figures
):
    orders = 40
    mailbox.data_delay = 0.02  # a relay taking its time: the load lasts a few seconds
    post_orders(stack, range(orders))  # queued before any worker runs
    supervisor = stack.worker(threads=4)
    wait_for(lambda: len(mailbox.messages) >= orders // 3, timeout=30, what="a third sent")

    asked = time.monotonic()
    supervisor.stop(timeout=SHUTDOWN_TIMEOUT + 10)
    shutdown = time.monotonic() - asked
    sent_before = len(mailbox.messages)
    assert supervisor.popen.returncode == 0, supervisor.log()
    assert shutdown < SHUTDOWN_TIMEOUT
    assert sent_before < orders, "the deploy landed mid-load"
    assert _taken_and_unacknowledged(stack) == 0, "what it had taken went back to the queue"
    waiting = [r.id for r in stack.outbox() if r.status == "sending"]
    assert waiting == [], "no send was cut short"

    restarted = time.monotonic()
    stack.worker(threads=4)  # the deploy's new worker; no sweeper runs
    stack.wait_settled(timeout=60)
    rest = time.monotonic() - restarted
    result = tally(stack, mailbox)
    assert result.sent == orders
    assert result.duplicates == 0, "I4: a deploy sends nothing twice"
    assert stack.inbox_statuses() == {"processed": 2 * orders}
    figures.add("N", f"{orders} orders ({3 * orders} messages)")
    figures.add("sent before SIGTERM", f"{sent_before} of {orders}")
    figures.add("shutdown", f"{shutdown:.1f} s (limit {SHUTDOWN_TIMEOUT} s)")
    figures.add("the rest sent", f"{rest:.1f} s after the new worker started")
    figures.add("duplicates", 0)


@pytest.mark.fault("Q-9")
def test_a_send_that_always_fails_is_given_up_after_max_attempts_with_an_alert(
    stack, mailbox, base_env, figures
):
    max_attempts = int(base_env["MAX_ATTEMPTS"])
    orders, victim = 10, customer(4)
    mailbox.scripted[victim] = ["451 4.3.0 Try again later"] * (max_attempts + 5)
    stack.worker(threads=2)
    post_orders(stack, range(orders))
    stack.wait_settled()

    row = outbox_row(stack, victim)
    assert (row.status, row.attempts) == ("failed", max_attempts)
    assert "451" in row.last_error and f"after {max_attempts} attempts" in row.last_error
    assert mailbox.attempts[victim] == max_attempts, "no attempt past the cap"
    with stack.service.runtime.sessions() as session:
        alerts = session.scalars(select(Alert).where(Alert.kind == "notification_failed")).all()
    assert [a.detail["outbox_id"] for a in alerts] == [row.id]
    result = tally(stack, mailbox, failed=frozenset({row.id}))
    assert result.sent == orders - 1, "every other recipient got theirs"
    assert result.duplicates == 0
    figures.add("attempts", f"{max_attempts} (MAX_ATTEMPTS), then failed and alerted")


class SilentServer:
    """Takes TCP connections and never says a word (no SMTP banner): when each was accepted
    and when its client gave up and closed it."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        # Accepted connections share the port; the real server binds it after this one.
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.waits: list[float] = []
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._hold, args=(connection,), daemon=True).start()

    def _hold(self, connection: socket.socket) -> None:
        accepted = time.monotonic()
        self._held.append(connection)
        with suppress(OSError), connection:
            while connection.recv(1024):  # the client says nothing before the banner
                pass
            self.waits.append(time.monotonic() - accepted)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.listener.close()
        for connection in self._held:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


@pytest.mark.fault("Q-11")
def test_an_smtp_server_that_never_greets_costs_the_socket_timeout_not_the_time_limit(
    postgres_url, base_env, monkeypatch, tmp_path, figures
):
    silent = SilentServer()
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(silent.port))
    monkeypatch.setenv("SMTP_FROM", "orders@shop.test")
    monkeypatch.setenv("SMTP_TIMEOUT", str(SMTP_TIMEOUT))
    monkeypatch.setenv("MAX_ATTEMPTS", "5")
    monkeypatch.setenv("RETRY_MIN_BACKOFF_MS", "1000")
    monkeypatch.setenv("RETRY_MAX_BACKOFF_MS", "2000")
    controller = None
    try:
        with redis_stack(postgres_url, tmp_path, monkeypatch) as stack:
            time_limit = stack.service.runtime.actors.send_notification.options["time_limit"]
            stack.worker(threads=1)
            post_orders(stack, [0])
            wait_for(lambda: silent.waits or None, timeout=30, what="the first attempt to end")
            # One thread, held by the silent server until its timeout: the next order's
            # events wait for it, and are applied once it is free.
            post_orders(stack, [1])
            first = wait_for(
                lambda: _attempted(stack, customer(0)), timeout=30, what="the first attempt"
            )
            assert first.status == "pending" and "SMTP connection failed" in first.last_error
            silent.close()
            controller, mailbox = start_mailbox(monkeypatch, port=silent.port)
            stack.wait_settled(timeout=30)

            row = outbox_row(stack, customer(0))
            assert row.status == "sent" and row.attempts >= 2, "retried, then sent"
            assert [m["To"] for m in mailbox.messages].count(customer(0)) == 1
            assert stack.inbox_statuses() == {"processed": 4}, "the thread was freed"
    finally:
        silent.close()
        if controller is not None:
            controller.stop()
    [held] = silent.waits[:1]
    assert SMTP_TIMEOUT - 0.5 <= held <= 30, "the attempt ended at the socket timeout"
    assert held < time_limit / 1000 / 2
    figures.add("silent server held the attempt", f"{held:.1f} s (SMTP_TIMEOUT {SMTP_TIMEOUT} s)")
    figures.add("send time limit", f"{time_limit / 1000:.0f} s")


def _attempted(stack, recipient: str):
    rows = [r for r in stack.outbox() if r.recipient == recipient and r.attempts >= 1]
    return rows[0] if rows and rows[0].status != "sending" else None
