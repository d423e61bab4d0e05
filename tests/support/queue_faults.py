"""What the queue and worker fault rows (Q-1 to Q-12) share: many distinct orders to send
through the system, sinks that can hold one message at a chosen step until the test has put
its fault in place (so a kill lands exactly where the row says), a Twilio-shaped HTTP server
the worker processes can reach, a Redis that keeps its data across a restart, and the count
of what reached the sinks against what the database says was sent (invariants I2 to I4)."""

import asyncio
import json
import os
import re
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
from aiosmtpd.controller import Controller
from dramatiq import Message as QueueMessage
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import text, update

from ordertrack.store.inbox import NewInboxRow
from ordertrack.store.models import Outbox, OutboxAttempt
from tests.support import twilio
from tests.support.harness import start_service
from tests.support.processes import (
    HEARTBEATS,
    NAMESPACE,
    Process,
    RedisServer,
    Stack,
    new_delivery,
    wait_for,
)
from tests.support.smtp import Recorder, free_port
from tests.support.webhooks import Request, easypost, fixture_body, shopify

#: The orders these rows send are numbered from here (the fixtures' own is #1042).
FIRST_ORDER = 7_000_000_000_000


def customer(n: int) -> str:
    return f"c{n}@example.test"


def phone(n: int) -> str:
    return f"+1555555{n:04d}"


def tracking_number(n: int) -> str:
    return f"9400111800{n:012d}"


_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
#: The fixtures' story ends here (the van's scan); the orders are moved to end 5 minutes ago,
#: so that no parcel looks overdue to the sweeper's delay check.
_FIXTURES_END = datetime(2026, 11, 4, 7, 31, 4, tzinfo=UTC)


def _recent(value, delta: timedelta):
    """`value` with every ISO timestamp in it moved by `delta`."""
    if isinstance(value, dict):
        return {key: _recent(item, delta) for key, item in value.items()}
    if isinstance(value, list):
        return [_recent(item, delta) for item in value]
    if isinstance(value, str) and _ISO_TIME.match(value):
        return (datetime.fromisoformat(value) + delta).isoformat()
    return value


def _fixture(source: str, name: str) -> dict:
    delta = datetime.now(UTC) - timedelta(minutes=5) - _FIXTURES_END
    return _recent(json.loads(fixture_body(source, name)), delta)


def order(n: int, *, texts: bool = False) -> list[Request]:
    """Order n created, then shipped in one parcel: one "shipped" email to customer(n). With
    `texts`, the customer agreed to texts and the parcel is then out for delivery, which adds
    an email and a text (SMS) to phone(n)."""
    created = _fixture("shopify", "orders_create")
    order_id = FIRST_ORDER + n
    created.update(id=order_id, name=f"#Q{n}", order_number=n, email=customer(n))
    created["customer"]["email"] = customer(n)
    for holder in (created, created["customer"], created["shipping_address"]):
        holder["phone"] = phone(n)
    if texts:
        created["customer"]["sms_marketing_consent"] = {"state": "subscribed"}
    shipped = _fixture("shopify", "fulfillments_create")
    number = tracking_number(n)
    shipped.update(
        id=FIRST_ORDER + 500_000 + n,
        order_id=order_id,
        email=customer(n),
        tracking_number=number,
        tracking_numbers=[number],
    )
    story = [
        shopify("orders_create", json.dumps(created).encode(), webhook_id=f"q-order-{n}"),
        shopify("fulfillments_create", json.dumps(shipped).encode(), webhook_id=f"q-ship-{n}"),
    ]
    if texts:
        van = _fixture("easypost", "tracker_updated__out_for_delivery")
        van["id"] = f"evt_q{n:012d}"
        van["result"].update(id=f"trk_q{n:012d}", tracking_code=number)
        story.append(easypost("tracker_updated__out_for_delivery", json.dumps(van).encode()))
    return story


def post_orders(stack: Stack, numbers, *, texts: bool = False) -> None:
    for n in numbers:
        for request in order(n, texts=texts):
            response = stack.service.post(request)
            assert response.status_code == 202, (request.name, response.status_code)


def new_orders(numbers) -> list[NewInboxRow]:
    """The inbox rows the receiver would commit for these orders' webhooks."""
    return [new_delivery(request) for n in numbers for request in order(n)]


# --- Sinks that can hold a message where the fault is to land


@dataclass
class Gate:
    """One message held at a step of its delivery until the test opens the gate: `reached`
    is set when it gets there, and the sink waits (without blocking other clients) for
    `opened`. Used once; a later attempt at the same message passes."""

    reached: threading.Event = field(default_factory=threading.Event)
    opened: threading.Event = field(default_factory=threading.Event)

    def wait_reached(self, timeout: float = 30) -> None:
        assert self.reached.wait(timeout), "the held message never got to its gate"

    def open(self) -> None:
        self.opened.set()


class GatedRecorder(Recorder):
    """The tests' SMTP server (tests/support/smtp.py) that can also hold a recipient's
    message at RCPT (nothing accepted yet) or after DATA (the message stored, as accepted,
    its 250 not yet given), and can take its time over every DATA (a slow relay)."""

    def __init__(self) -> None:
        super().__init__()
        self.gates: dict[tuple[str, str], Gate] = {}
        self.data_delay = 0.0

    def hold(self, recipient: str, step: str) -> Gate:
        assert step in ("RCPT", "DATA"), step
        gate = self.gates[(recipient, step)] = Gate()
        return gate

    async def _pass(self, recipient: str, step: str) -> None:
        gate = self.gates.get((recipient, step))
        if gate is None or gate.reached.is_set():
            return
        gate.reached.set()
        while not gate.opened.is_set():
            await asyncio.sleep(0.01)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        await self._pass(address, "RCPT")
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        reply = await super().handle_DATA(server, session, envelope)
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        for recipient in envelope.rcpt_tos:
            await self._pass(recipient, "DATA")
        return reply

    def copies(self) -> Counter:
        """Message-ID -> copies accepted."""
        return Counter(m["Message-ID"] for m in self.messages)


def start_mailbox(monkeypatch: pytest.MonkeyPatch, port: int | None = None):
    """A GatedRecorder SMTP server on a free port (or `port`), the app pointed at it."""
    recorder = GatedRecorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=port or free_port())
    controller.start()
    recorder.loop = controller.loop
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(controller.port))
    monkeypatch.setenv("SMTP_FROM", "orders@shop.test")
    return controller, recorder


class TwilioServer:
    """Twilio's Messages resource over real HTTP, for worker processes (tests/support/twilio.py
    plays it inside the test process): a POST creates a text and answers 201, a GET lists
    the texts to a number. A gate holds one number's POST after the text is created, before
    the answer: the window in which the provider has it and we do not know yet."""

    def __init__(self) -> None:
        self.fake = twilio.FakeTwilio()
        self.gates: dict[str, Gate] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def env(self) -> dict[str, str]:
        return {**twilio.ENV, "TWILIO_API_BASE": f"http://127.0.0.1:{self.server.server_port}"}

    def hold(self, to: str) -> Gate:
        gate = self.gates[to] = Gate()
        return gate

    def texts(self) -> Counter:
        """Message SID -> texts created (each create is a new SID, so a duplicate text is
        a second SID to the same number with the same body)."""
        return Counter(m["sid"] for m in self.fake.messages)

    def to(self, number: str) -> list[dict]:
        return [m for m in self.fake.messages if m["to"] == number]

    def start(self) -> "TwilioServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        for gate in self.gates.values():
            gate.open()
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                outer.fake.posts.append((0.0, form))
                message = outer.fake.create(form)
                gate = outer.gates.get(form["To"])
                if gate is not None and not gate.reached.is_set():
                    gate.reached.set()
                    gate.opened.wait(timeout=30)
                self._answer(201, message)

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                outer.fake.lookups.append(query)
                to = query.get("To", [None])[0]
                listed = [m for m in reversed(outer.fake.messages) if to in (None, m["to"])]
                self._answer(200, {"messages": listed, "page": 0, "next_page_uri": None})

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        return Handler


# --- Redis that keeps its data, and looking inside the broker's keys


class DurableRedis(RedisServer):
    """A private redis-server with an append-only file fsynced on every write (docs/faults.md,
    "How the rows are run"): a restart on the same port comes back with every message."""

    def start(self) -> "DurableRedis":
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
        argv += ["--dir", str(self.log_dir)]
        self.process = Process(argv, dict(os.environ), self.log_dir / f"redis-{self.port}.log")
        wait_for(self._answers, timeout=10, what=f"redis-server on port {self.port}")
        return self

    def shut_down(self) -> None:
        """SHUTDOWN: Redis flushes its AOF and exits, as on a clean restart."""
        assert self.process is not None
        self.client().shutdown(nosave=False)
        self.process.popen.wait(timeout=10)


@contextmanager
def stack_on(
    server: RedisServer, database_url: str, log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    """processes.redis_stack on a Redis server of the test's choosing (started here)."""
    server.start()
    try:
        monkeypatch.setenv("REDIS_URL", server.url)
        monkeypatch.setenv("DATABASE_URL", database_url)
        service = start_service(with_worker=False)
    except BaseException:
        server.stop()
        raise
    stack = Stack(server, service, dict(os.environ), log_dir)
    try:
        yield stack
    finally:
        stack.close()


def queued_ids(stack: Stack, queue: str) -> dict[str, int]:
    """Redis message id -> the outbox or inbox id of every message body the broker holds for
    `queue` (waiting, delayed or taken and not yet acknowledged)."""
    bodies = stack.redis.client().hgetall(f"{NAMESPACE}:{queue}.msgs")
    return {key.decode(): QueueMessage.decode(body).args[0] for key, body in bodies.items()}


def unacked_by(stack: Stack, queue: str, redis_id: str) -> list[str]:
    """The broker ids (workers) holding `redis_id` taken and not yet acknowledged."""
    client = stack.redis.client()
    prefix = f"{NAMESPACE}:__acks__."
    owners = []
    for key in client.scan_iter(match=f"{prefix}*.{queue}"):
        if client.sismember(key, redis_id):
            owners.append(key.decode()[len(prefix) : -len(queue) - 1])
    return owners


# --- Worker processes


def worker_child(supervisor: Process, timeout: float = 20) -> int:
    """The pid of the one worker process `ordertrack worker --processes 1` runs."""

    def child() -> int | None:
        assert supervisor.running(), supervisor.log()
        path = Path(f"/proc/{supervisor.pid}/task/{supervisor.pid}/children")
        pids = [int(p) for p in path.read_text().split()]
        return pids[0] if len(pids) == 1 else None

    return wait_for(child, timeout=timeout, what="the supervisor's worker process")


def kill_child(supervisor: Process) -> int:
    """SIGKILL the worker process (as the OOM killer would); the supervisor replaces it.
    Returns the killed pid, once it is gone."""
    pid = worker_child(supervisor)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: worker_child(supervisor) != pid, timeout=20, what="a new worker process")
    return pid


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for pid {pid}")


# --- The database side


def outbox_row(stack: Stack, recipient: str) -> Outbox:
    [row] = [r for r in stack.outbox() if r.recipient == recipient]
    return row


def lease_runs_out(stack: Stack, outbox_id: int) -> None:
    """Time passing for one claimed row: its send lease (minutes, derived from every channel's
    timeouts, lease.py) is over. The sweeper then hands it out as the row of a dead worker."""
    lease = stack.service.runtime.channels.send_lease
    long_ago = datetime.now(UTC) - lease - timedelta(seconds=1)
    with stack.service.runtime.sessions.begin() as session:
        session.execute(update(Outbox).where(Outbox.id == outbox_id).values(touched_at=long_ago))


def attempt_log(stack: Stack, outbox_id: int) -> list[tuple[int, str]]:
    with stack.service.runtime.sessions() as session:
        rows = session.query(OutboxAttempt).filter_by(outbox_id=outbox_id)
        return sorted((a.attempt, a.outcome) for a in rows)


def drained(stack: Stack) -> bool:
    """Stack.settled in two counts: cheap enough to poll while a backlog drains (loading
    every row ten times a second takes the CPU the workers need)."""
    query = text(
        "SELECT (SELECT count(*) FROM inbox WHERE status IN ('pending', 'processing', 'parked'))"
        " + (SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending', 'ambiguous'))"
    )
    with stack.service.runtime.engine.connect() as connection:
        return connection.scalar(query) == 0


def lock_waiters(stack: Stack) -> int:
    """Other sessions of the test's database waiting for a row lock right now."""
    with stack.service.runtime.engine.connect() as connection:
        return connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            )
        )


class RowLock:
    """Another session holding outbox rows locked (FOR UPDATE) until released: a worker that
    has the provider's answer cannot commit it meanwhile."""

    def __init__(self, stack: Stack, outbox_ids: list[int]) -> None:
        self.connection = stack.service.runtime.engine.connect()
        self.transaction = self.connection.begin()
        query = text("SELECT id FROM outbox WHERE id = ANY(:ids) FOR UPDATE")
        self.connection.execute(query, {"ids": outbox_ids})

    def release(self) -> None:
        self.transaction.rollback()
        self.connection.close()


# --- Invariants I2 to I4


@dataclass(frozen=True)
class Tally:
    """What reached the sinks, against the rows the database says were sent."""

    sent: int
    copies: int
    duplicates: int


def tally(
    stack: Stack,
    mailbox: GatedRecorder,
    texts: TwilioServer | None = None,
    *,
    failed: frozenset[int] = frozenset(),
) -> Tally:
    """I2: no row is left waiting (the caller waited for `stack.settled()`), and none failed
    but the `failed` ids the scenario fails on purpose. I3: the distinct emails and texts at
    the sinks are exactly those the rows say were sent. I4 is the caller's: `duplicates`
    (copies beyond one per message) against its budget."""
    rows = stack.outbox()
    unsent = [(r.id, r.status, r.last_error) for r in rows if r.status == "failed"]
    assert {u[0] for u in unsent} == set(failed), f"failed notifications: {unsent}"
    rows = [r for r in rows if r.id not in failed]
    assert all(r.status in ("sent", "skipped") for r in rows), [(r.id, r.status) for r in rows]
    sent_emails = {r.message_id for r in rows if r.status == "sent" and r.channel == "email"}
    emails = mailbox.copies()
    assert set(emails) == sent_emails, "I3: the SMTP sink holds exactly the emails sent"
    copies, distinct = sum(emails.values()), len(emails)
    if texts is not None:
        sent_texts = {r.message_id for r in rows if r.status == "sent" and r.channel == "sms"}
        created = texts.texts()
        assert set(created) == sent_texts, "I3: Twilio holds exactly the texts sent"
        by_text = Counter((m["to"], m["body"]) for m in texts.fake.messages)
        copies, distinct = copies + sum(by_text.values()), distinct + len(by_text)
    return Tally(sent=distinct, copies=copies, duplicates=copies - distinct)


def redeliver_from_dead(stack: Stack, queue: str, dead: list[str]) -> None:
    """Dramatiq's own recovery of dead workers' messages, now rather than later: their
    heartbeats made stale (as HEARTBEAT_TIMEOUT on would), then one maintenance pass of the
    broker's dispatch script on `queue` (a live worker's poll runs one on 1 in 50)."""
    client = stack.redis.client()
    client.zadd(HEARTBEATS, dict.fromkeys(dead, 1))
    broker = RedisBroker(
        client=client, namespace=NAMESPACE, heartbeat_timeout=15_000, maintenance_chance=10**6
    )
    broker.do_fetch(queue, 0)  # takes nothing; the maintenance runs first
