"""Deliver one outbox row: claim it, check it is still news, send, record the outcome.

Claim-then-act-then-record (reliability.md, section 4): the claim bumps our own attempt
counter in its own commit, so a worker killed mid-send still counts the attempt, and the
sweeper can hand a row stuck in `sending` to another worker after its lease.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ordertrack.notifications import email, messages, policy
from ordertrack.store.models import Order, Outbox, OutboxStatus
from ordertrack.store.orders import to_state

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


def claim(session: Session, outbox_id: int) -> Outbox | None:
    query = select(Outbox).where(Outbox.id == outbox_id).with_for_update(skip_locked=True)
    row = session.scalars(query).one_or_none()
    now = datetime.now(UTC)
    abandoned = row and row.status == OutboxStatus.SENDING and row.touched_at < now - SENDING_LEASE
    if row is None or not (row.status == OutboxStatus.PENDING or abandoned):
        return None
    row.status, row.attempts, row.touched_at = OutboxStatus.SENDING, row.attempts + 1, now
    return row


def deliver(sessions: sessionmaker[Session], outbox_id: int, channels: Channels) -> Delivered:
    with sessions.begin() as session:
        row = claim(session, outbox_id)
        if row is None:
            return Delivered("unchanged")
        state = to_state(session.get(Order, row.order_id))
        kind, recipient, attempts = row.kind, row.recipient, row.attempts
        message_id = f"<ordertrack.{row.id}.{row.order_id}@{channels.message_domain}>"
    outcome = _attempt(kind, recipient, message_id, state, channels)
    if outcome.retry and attempts >= channels.max_attempts:
        outcome = Delivered(
            OutboxStatus.FAILED, f"gave up after {attempts} attempts: {outcome.reason}"
        )
    with sessions.begin() as session:
        _record(session.get(Outbox, outbox_id), outcome, message_id)
    return outcome


def _attempt(kind: str, recipient: str, message_id: str, state, channels: Channels) -> Delivered:
    if policy.is_stale(kind, state.status):
        return Delivered(OutboxStatus.SKIPPED, f"{STALE_PREFIX} the order is {state.status} now")
    if channels.smtp is None:
        return Delivered(OutboxStatus.SKIPPED, "SMTP_HOST is not set")
    content = messages.render(kind, state, channels.shop_name)
    try:
        email.send(
            channels.smtp, email.build_message(channels.smtp, recipient, message_id, content)
        )
    except email.DeliveryError as exc:
        if exc.permanent:
            return Delivered(OutboxStatus.FAILED, exc.reason)
        return Delivered(OutboxStatus.PENDING, exc.reason, retry=True)
    return Delivered(OutboxStatus.SENT)


def _record(row: Outbox, outcome: Delivered, message_id: str) -> None:
    now = datetime.now(UTC)
    row.status, row.last_error, row.touched_at = outcome.status, outcome.reason, now
    if outcome.status == OutboxStatus.SENT:
        row.sent_at, row.message_id = now, message_id


def unfinished(session: Session, untouched_for: timedelta, limit: int = 500) -> list[int]:
    """Notifications left pending, or sending past their lease, for the sweeper."""
    cutoff = datetime.now(UTC) - max(untouched_for, SENDING_LEASE)
    query = (
        select(Outbox.id)
        .where(Outbox.status.in_(OutboxStatus.UNFINISHED), Outbox.touched_at < cutoff)
        .order_by(Outbox.id)
        .limit(limit)
    )
    return list(session.scalars(query))
