"""What a channel's provider later says about a message it accepted (Twilio's status
callbacks): delivered, or failed with the reason. Only ever forward: a late "sent" never
undoes a "delivered", and a message already failed stays failed. A callback may come while
the attempt that sent the text is still being recorded (`sending`): it counts then too, and
for a text whose create answered 5xx (`ambiguous`): the callback proves Twilio took it."""

from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from ordertrack.store.models import Outbox, OutboxStatus

_OPEN = (OutboxStatus.SENDING, OutboxStatus.AMBIGUOUS, OutboxStatus.SENT)


def mark_delivered(session: Session, channel: str, sid: str, outbox_id: int | None) -> bool:
    return _move(session, channel, sid, outbox_id, OutboxStatus.DELIVERED, None)


def mark_failed(session: Session, channel: str, sid: str, outbox_id: int | None, reason: str):
    """The row failed (what an alert names: id, order, kind, channel, recipient, attempts),
    or None when nothing moved."""
    query = _move_query(channel, sid, outbox_id, OutboxStatus.FAILED, reason)
    returning = (Outbox.id, Outbox.order_id, Outbox.kind, Outbox.channel, Outbox.recipient)
    return session.execute(query.returning(*returning, Outbox.attempts)).first()


def _move(session, channel, sid: str, outbox_id: int | None, status: str, reason) -> bool:
    query = _move_query(channel, sid, outbox_id, status, reason)
    return session.execute(query).rowcount > 0


def _move_query(channel, sid: str, outbox_id: int | None, status: str, reason):
    """By the message's own id when the callback URL names it, else by the provider's."""
    values = {"status": status, "touched_at": datetime.now(UTC), "provider_message_id": sid}
    if reason:
        values["last_error"] = reason[:1000]
    which = Outbox.id == outbox_id if outbox_id else Outbox.provider_message_id == sid
    return (
        update(Outbox)
        .where(which, Outbox.channel == channel, Outbox.status.in_(_OPEN))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
