"""Claiming a notification for one attempt, and giving up on it once its attempts are used up.

A claim marks the row `sending` and counts the attempt, committed before anything is sent, so
a worker that never finishes (SIGKILL, out of memory, Dramatiq's TimeLimitExceeded, which is a
BaseException no `except Exception` sees) has still counted it. Since nothing after such a
crash ever checks the count, the claim does: a row whose attempts are used up is refused,
marked failed and alerted. The claim also tells whether the last attempt may have reached the
recipient (the row is `ambiguous`, or `sending` past its lease, never recorded): the SMS
channel then looks in Twilio's list before it sends again.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from ordertrack import alerts
from ordertrack.store.models import Outbox, OutboxAttempt, OutboxStatus
from ordertrack.store.overdue import overdue_ids

MERCHANT_WEBHOOK = "merchant_webhook"
#: When a merchant webhook is tried again, after each failed attempt, in seconds: Standard
#: Webhooks' example schedule, about 17 hours in all, unless the endpoint says Retry-After.
MERCHANT_RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000)

#: The attempt log's outcome for an attempt whose worker never recorded one.
UNKNOWN = "unknown"
UNRECORDED = (
    "never recorded: the worker stopped (killed, out of memory, over its time limit) or could"
    " not reach the database; it may have been sent"
)


@dataclass(frozen=True)
class Claim:
    """The row, now `sending` for this attempt."""

    order_id: int
    parcel: str
    kind: str
    channel: str
    recipient: str
    #: This attempt's number.
    attempts: int
    created_at: datetime
    #: The last attempt may have reached the recipient: look before sending, where possible.
    reconcile: bool
    #: The last attempt never recorded its outcome; this claim logged it `unknown`.
    unrecorded: bool


@dataclass(frozen=True)
class GaveUp:
    """The row's attempts were used up: it is failed now, and the merchant alerted."""

    channel: str
    attempts: int
    reason: str


def attempts_allowed(channel: str, max_attempts: int) -> int:
    """MAX_ATTEMPTS, or for the merchant's webhook its schedule's steps and the first try."""
    if channel == MERCHANT_WEBHOOK:
        return len(MERCHANT_RETRY_SCHEDULE) + 1
    return max_attempts


def claim(
    session: Session, outbox_id: int, *, max_attempts: int, lease: timedelta, now: datetime
) -> Claim | GaveUp | None:
    """Take a due row for one attempt; None when it is not due (done already, not due yet, or
    another worker is sending it within its lease). One compare-and-set UPDATE on the status
    and the attempt count read just before, so two workers never both take it."""
    row = session.execute(_read(outbox_id)).first()
    if row is None or not _claimable(row, lease, now):
        return None
    unrecorded = row.status == OutboxStatus.SENDING
    if row.attempts >= attempts_allowed(row.channel, max_attempts):
        return _give_up(session, outbox_id, row, unrecorded, now)
    values = {"status": OutboxStatus.SENDING, "attempts": row.attempts + 1, "touched_at": now}
    if not session.execute(_as_read(outbox_id, row).values(**values)).rowcount:
        return None
    if unrecorded:
        _log_unrecorded(session, outbox_id, row.attempts, now)
    return Claim(
        order_id=row.order_id,
        parcel=row.parcel,
        kind=row.kind,
        channel=row.channel,
        recipient=row.recipient,
        attempts=row.attempts + 1,
        created_at=row.created_at,
        reconcile=row.status != OutboxStatus.PENDING,
        unrecorded=unrecorded,
    )


def _read(outbox_id: int):
    return select(
        Outbox.status,
        Outbox.attempts,
        Outbox.touched_at,
        Outbox.due_at,
        Outbox.order_id,
        Outbox.parcel,
        Outbox.kind,
        Outbox.channel,
        Outbox.recipient,
        Outbox.created_at,
    ).where(Outbox.id == outbox_id)


def _claimable(row, lease: timedelta, now: datetime) -> bool:
    if row.status == OutboxStatus.SENDING:  # abandoned once its lease ran out
        return _utc(row.touched_at) < now - lease
    if row.status in OutboxStatus.WAITING:
        return row.due_at is None or _utc(row.due_at) <= now
    return False


def _as_read(outbox_id: int, row):
    """An UPDATE of the row only while it is as it was read."""
    return (
        update(Outbox)
        .where(Outbox.id == outbox_id, Outbox.status == row.status, Outbox.attempts == row.attempts)
        .execution_options(synchronize_session=False)
    )


def _give_up(session: Session, outbox_id: int, row, unrecorded: bool, now: datetime):
    reason = f"gave up after {row.attempts} attempts"
    if unrecorded:
        reason += (
            ": the last never finished (the worker was killed, ran out of memory or went over"
            " its time limit); it may have been sent"
        )
    values = {"status": OutboxStatus.FAILED, "last_error": reason, "touched_at": now}
    if not session.execute(_as_read(outbox_id, row).values(**values)).rowcount:
        return None
    if unrecorded:
        _log_unrecorded(session, outbox_id, row.attempts, now)
    alerts.notification_failed(session, outbox_id, row, reason, now)
    return GaveUp(row.channel, row.attempts, reason)


def _log_unrecorded(session: Session, outbox_id: int, attempt: int, now: datetime) -> None:
    """The attempt log shows the attempt that never recorded its outcome, once."""
    logged = exists().where(OutboxAttempt.outbox_id == outbox_id, OutboxAttempt.attempt == attempt)
    if attempt < 1 or session.scalar(select(logged)):
        return
    session.add(
        OutboxAttempt(
            outbox_id=outbox_id, attempt=attempt, at=now, outcome=UNKNOWN, reason=UNRECORDED
        )
    )


def unfinished(
    session: Session, untouched_for: timedelta, lease: timedelta, limit: int, after_id: int
) -> list[int]:
    """For the sweeper: rows waiting (pending, ambiguous) and due, untouched for
    `untouched_for` (the queue lost them); and rows `sending` past their lease (their worker
    died). A batch from `after_id` on, locked, skipping rows others hold."""
    now = datetime.now(UTC)
    due = Outbox.due_at.is_(None) | (Outbox.due_at <= now)
    waiting = Outbox.status.in_(OutboxStatus.WAITING) & (Outbox.touched_at < now - untouched_for)
    abandoned = (Outbox.status == OutboxStatus.SENDING) & (Outbox.touched_at < now - lease)
    earliest = now - min(untouched_for, lease)
    which = (waiting & due) | abandoned
    later = Outbox.id > after_id
    return overdue_ids(session, Outbox, OutboxStatus.UNFINISHED, earliest, limit, which, later)


def _utc(moment: datetime) -> datetime:
    """Aware UTC; SQLite hands datetimes back naive."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
