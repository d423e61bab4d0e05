"""Matrix rows SMTP-1 to SMTP-5: how the email channel ends each reply an SMTP server can give
(RFC 5321: 4yz transient, 5yz permanent; docs/reliability.md, "Retry, give up, or ambiguous").
A real SMTP server (aiosmtpd) answers as scripted, at the greeting, at RCPT or at the end of
DATA; the whole service (in-process queue, two worker threads) on PostgreSQL sends to it.
N = 1: each row is one message and what the channel makes of one reply (the matrix's N = 1000,
in docs/faults.md, "How the rows are run", is for the rows that load the queue)."""

import time
from contextlib import ExitStack
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from tests.support.channel_faults import emptied, finished, module_database, running, ship
from tests.support.smtp import Recorder, free_port

CUSTOMER = "ada@example.com"
#: The end of DATA answered by closing the connection: no reply at all.
DROP = "drop"
#: Short retry backoff, so a retry's wait can be seen and still costs little.
MIN_BACKOFF_MS = 300


@dataclass
class FaultySmtp(Recorder):
    """tests/support/smtp.py's server, able to refuse at the greeting and at DATA's end."""

    #: Replies given in place of the 220 greeting, one per new connection, then 220 again.
    greetings: list[str] = field(default_factory=list)
    greeted: int = 0
    #: recipient -> replies at the end of DATA, in order (DROP: hang up, the message kept).
    data_scripted: dict[str, list[str]] = field(default_factory=dict)
    #: (recipient, monotonic time) of every RCPT.
    rcpt_times: list[tuple[str, float]] = field(default_factory=list)
    #: The accepted RCPTs of every transaction that reached the end of DATA.
    transactions: list[list[str]] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        self.rcpt_times.append((address, time.monotonic()))
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.transactions.append(list(envelope.rcpt_tos))
        replies = self.data_scripted.get(envelope.rcpt_tos[0])
        reply = replies.pop(0) if replies else None
        if reply is None:
            return await super().handle_DATA(server, session, envelope)
        if reply == DROP:  # the message is stored, and the reply never comes
            await super().handle_DATA(server, session, envelope)
            server.transport.close()
            return "250 unheard"
        return reply  # refused: nothing is kept

    def accepted(self, address: str) -> list:
        return self.to(address)


class _Greeter(SMTP):
    """aiosmtpd's session, refusing at the greeting when told to: aiosmtpd has no hook there,
    so its connection handler (private in aiosmtpd 1.4) is wrapped."""

    async def _handle_client(self) -> None:
        handler = self.event_handler
        handler.greeted += 1
        if handler.greetings:
            await self.push(handler.greetings.pop(0))
            self.transport.close()
            return
        await super()._handle_client()


class _Controller(Controller):
    def factory(self):
        return _Greeter(self.handler, **self.SMTP_kwargs)


@pytest.fixture(scope="module")
def database():
    with module_database() as url:
        yield url


@pytest.fixture
def mail(base_env, monkeypatch):
    """The SMTP server the service under test sends to."""
    server = FaultySmtp()
    controller = _Controller(server, hostname="127.0.0.1", port=free_port())
    controller.start()
    server.loop = controller.loop
    server.greeted = 0  # the controller's own check connection at start
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(controller.port))
    monkeypatch.setenv("SMTP_FROM", "orders@shop.test")
    yield server
    controller.stop()


@pytest.fixture
def start(database, mail, monkeypatch):
    """Start the service on the emptied database, with these settings (conftest's `start`
    runs each test on SQLite and on a new PostgreSQL database: too slow for the budget)."""

    with ExitStack() as stack:
        yield lambda **env: stack.enter_context(running(monkeypatch, emptied(database), **env))


def _outcomes(notification: dict) -> list[str]:
    return [attempt["outcome"] for attempt in notification["attempt_log"]]


@pytest.mark.fault("SMTP-1")
@pytest.mark.parametrize("phase", ["RCPT", "DATA"])
def test_a_451_then_250_is_sent_once_after_a_retry_that_waited_its_backoff(
    start, mail, figures, phase
):
    if phase == "RCPT":
        mail.scripted[CUSTOMER] = ["451 4.3.0 Try again later"]
    else:
        mail.data_scripted[CUSTOMER] = ["451 4.3.0 Try again later"]
    service = start(RETRY_MIN_BACKOFF_MS=str(MIN_BACKOFF_MS), RETRY_MAX_BACKOFF_MS="2000")

    ship(service)
    [email] = finished(service, "email")

    assert email["status"] == "sent"
    assert email["attempts"] == 2
    assert _outcomes(email) == ["retry", "sent"]
    assert "451" in email["attempt_log"][0]["reason"]
    assert len(mail.accepted(CUSTOMER)) == 1, "exactly one accepted copy"
    first, second = (at for address, at in mail.rcpt_times if address == CUSTOMER)
    assert second - first >= MIN_BACKOFF_MS / 1000, "the retry waited at least min_backoff"
    figures.add(f"451 at {phase}: attempts", email["attempts"])
    figures.add(f"451 at {phase}: retry after", f"{(second - first) * 1000:.0f} ms")
    figures.add(f"451 at {phase}: copies", len(mail.accepted(CUSTOMER)))


@pytest.mark.fault("SMTP-2")
def test_a_421_greeting_then_a_450_at_rcpt_are_retried_until_sent_once(start, mail, figures):
    mail.greetings = ["421 4.3.2 Service not available, closing transmission channel"]
    mail.scripted[CUSTOMER] = ["450 4.2.1 Mailbox busy, try again later"]
    service = start(MAX_ATTEMPTS="5")

    ship(service)
    [email] = finished(service, "email")

    assert email["status"] == "sent"
    assert email["attempts"] == 3
    assert _outcomes(email) == ["retry", "retry", "sent"]
    first, second = (attempt["reason"] for attempt in email["attempt_log"][:2])
    assert "421" in first and "450" in second
    assert mail.greeted == 3, "three connections: refused at the greeting, at RCPT, then sent"
    assert len(mail.accepted(CUSTOMER)) == 1, "I4: no duplicate"
    figures.add("attempts", email["attempts"])
    figures.add("copies", len(mail.accepted(CUSTOMER)))


@pytest.mark.fault("SMTP-3")
def test_a_550_5_1_1_fails_at_once_with_the_code_and_is_never_retried(start, mail, figures):
    mail.scripted[CUSTOMER] = ["550 5.1.1 <ada@example.com>: Recipient address rejected"]
    service = start()

    ship(service)
    [email] = finished(service, "email")
    service.drain()  # nothing left on any queue, the delay queue included: no retry scheduled

    assert email["status"] == "failed"
    assert email["attempts"] == 1
    assert _outcomes(email) == ["failed"]
    assert "550 5.1.1" in email["reason"]
    assert email["sent_at"] is None
    assert mail.attempts[CUSTOMER] == 1
    assert mail.accepted(CUSTOMER) == []
    figures.add("attempts", email["attempts"])


@pytest.mark.fault("SMTP-4")
def test_one_recipient_refused_among_several_is_that_recipients_failure_alone(start, mail, figures):
    """An email field naming several addresses. Were they one message's RCPTs, smtplib would
    return the refused ones rather than raise: one refusal would fail the message another
    recipient has, or a retry would send that recipient a second copy. Each address is its
    own message: the refused one fails, a 4xx one is retried, the rest are sent once."""
    refused, busy = "bob@example.com", "cyd@example.com"
    mail.scripted[refused] = ["550 5.1.1 <bob@example.com>: Recipient address rejected"]
    mail.scripted[busy] = ["451 4.3.0 Try again later"]
    service = start()

    ship(service, email=f"{CUSTOMER}, Bob <{refused}>, {busy}")
    emails = finished(service, "email", count=3)

    outcome = {n["recipient"]: (n["status"], n["attempts"]) for n in emails}
    assert outcome == {
        "a***@example.com": ("sent", 1),
        "b***@example.com": ("failed", 1),
        "c***@example.com": ("sent", 2),
    }
    [failed] = [n for n in emails if n["status"] == "failed"]
    assert "550 5.1.1" in failed["reason"]
    assert [len(mail.accepted(a)) for a in (CUSTOMER, refused, busy)] == [1, 0, 1]
    assert all(len(rcpts) == 1 for rcpts in mail.transactions), "one RCPT per transaction"
    figures.add("recipients", "3 (1 sent, 1 refused 550, 1 sent after 451)")
    figures.add("copies", f"{len(mail.messages)} for 2 accepted")


@pytest.mark.fault("SMTP-5")
def test_a_connection_dropped_after_data_is_sent_again_with_the_same_message_id(
    start, mail, figures
):
    mail.data_scripted[CUSTOMER] = [DROP]
    service = start()

    ship(service)
    [email] = finished(service, "email")

    assert email["status"] == "sent"
    assert email["attempts"] == 2
    assert _outcomes(email) == ["retry", "sent"]
    copies = mail.accepted(CUSTOMER)
    assert len(copies) == 2, "the server kept the first: an ambiguous window, one duplicate"
    first, second = (copy["Message-ID"] for copy in copies)
    assert first == second, "a duplicate is recognisable by its Message-ID"
    figures.add("copies", f"{len(copies)}, one Message-ID")
    figures.add("attempts", email["attempts"])
