"""Deliver one outbox row: claim it, check it is still news, send, record the outcome.

Claim-then-act-then-record (reliability.md, section 4): the claim bumps our own attempt
counter in its own commit, so a worker killed mid-send still counts the attempt, and the
sweeper can hand a row stuck in `sending` to another worker after its lease.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from ordertrack.notifications import email, messages, policy
from ordertrack.store.models import Outbox, OutboxStatus
from ordertrack.store.orders import load_order, lock_order, to_state
from ordertrack.store.overdue import overdue_ids

#: Skipped because no longer true; such a row may become due again (see the pipeline).
STALE_PREFIX = "stale:"

#: A `sending` row older than this was abandoned by a dead worker.
SENDING_LEASE = timedelta(minutes=2)


@dataclass(frozen=True)
class Delivered:
    status: str
    reason: str | None = None
    #: True when the caller should try again later (with backoff).
    retry: bool = False


@dataclass(frozen=True)
class Channels:
    smtp: email.SmtpConfig | None
    shop_name: str
    message_domain: str
    max_attempts: int


def claim(session: Session, outbox_id: int):
    """Mark a due row `sending` and count the attempt, in one UPDATE; None when it is not
    due (done already, or another worker is sending it within its lease)."""
    now = datetime.now(UTC)
    abandoned = (Outbox.status == OutboxStatus.SENDING) & (Outbox.touched_at < now - SENDING_LEASE)
    query = (
        update(Outbox)
        .where(Outbox.id == outbox_id, (Outbox.status == OutboxStatus.PENDING) | abandoned)
        .values(status=OutboxStatus.SENDING, attempts=Outbox.attempts + 1, touched_at=now)
        .returning(Outbox.order_id, Outbox.kind, Outbox.recipient, Outbox.attempts)
        .execution_options(synchronize_session=False)
    )
    return session.execute(query).first()


def deliver(sessions: sessionmaker[Session], outbox_id: int, channels: Channels) -> Delivered:
    with sessions.begin() as session:
        row = claim(session, outbox_id)
        if row is None:
            return Delivered("unchanged")
        state = to_state(load_order(session, row.order_id))
        kind, recipient, attempts = row.kind, row.recipient, row.attempts
        message_id = f"<ordertrack.{outbox_id}.{row.order_id}@{channels.message_domain}>"
    outcome = _attempt(kind, recipient, message_id, state, channels)
    if outcome.retry and attempts >= channels.max_attempts:
        outcome = Delivered(
            OutboxStatus.FAILED, f"gave up after {attempts} attempts: {outcome.reason}"
        )
    with sessions.begin() as session:
        if outcome.reason and outcome.reason.startswith(STALE_PREFIX):
            outcome = _recheck_stale(session, row.order_id, kind, outcome)
        session.execute(_record(outbox_id, attempts, outcome, message_id))
    return outcome


def _recheck_stale(session: Session, order_id: int, kind: str, outcome: Delivered) -> Delivered:
    """Decide "stale" again under the order's lock: a transition committing meanwhile would
    otherwise find this row still `sending`, not revive it, and its news would be lost."""
    state = to_state(lock_order(session, order_id))
    if policy.is_stale(kind, state.status):
        return outcome
    return Delivered(OutboxStatus.PENDING, "true again while being skipped", retry=True)


def _attempt(kind: str, recipient: str, message_id: str, state, channels: Channels) -> Delivered:
    if policy.is_stale(kind, state.status):
        return Delivered(OutboxStatus.SKIPPED, f"{STALE_PREFIX} the order is {state.status} now")
    if channels.smtp is None:
        return Delivered(OutboxStatus.SKIPPED, "SMTP_HOST is not set")
    try:
        content = messages.render(kind, state, channels.shop_name)
        email.send(
            channels.smtp, email.build_message(channels.smtp, recipient, message_id, content)
        )
    except email.DeliveryError as exc:
        if exc.permanent:
            return Delivered(OutboxStatus.FAILED, exc.reason)
        return Delivered(OutboxStatus.PENDING, exc.reason, retry=True)
    except Exception as exc:  # a bug of ours: recorded and visible, never re-driven forever
        return Delivered(OutboxStatus.FAILED, f"could not build the message: {type(exc).__name__}")
    return Delivered(OutboxStatus.SENT)


def _record(outbox_id: int, attempt: int, outcome: Delivered, message_id: str):
    """Record this attempt's outcome, only if the row is still this attempt's: a worker that
    stalled past its lease must not overwrite what the one that took over recorded."""
    now = datetime.now(UTC)
    values = {"status": outcome.status, "last_error": outcome.reason, "touched_at": now}
    if outcome.status == OutboxStatus.SENT:
        values |= {"sent_at": now, "message_id": message_id}
    query = (
        update(Outbox)
        .where(
            Outbox.id == outbox_id,
            Outbox.status == OutboxStatus.SENDING,
            Outbox.attempts == attempt,
        )
        .values(**values)
    )
    return query.execution_options(synchronize_session=False)


def unfinished(session: Session, untouched_for: timedelta, limit: int = 500) -> list[int]:
    """Notifications left pending, or sending past their lease, for the sweeper."""
    cutoff = datetime.now(UTC) - max(untouched_for, SENDING_LEASE)
    return overdue_ids(session, Outbox, OutboxStatus.UNFINISHED, cutoff, limit)
