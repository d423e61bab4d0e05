"""What a channel's provider later says about a message it accepted (Twilio's status
callbacks): delivered, or failed with the reason. Only ever forward: a late "sent" never
undoes a "delivered", and a message already failed stays failed."""

from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from ordertrack.store.models import Outbox, OutboxStatus


def mark_delivered(session: Session, channel: str, provider_message_id: str) -> bool:
    return _move(session, channel, provider_message_id, OutboxStatus.DELIVERED, None)


def mark_failed(session: Session, channel: str, provider_message_id: str, reason: str) -> bool:
    return _move(session, channel, provider_message_id, OutboxStatus.FAILED, reason)


def _move(session, channel: str, provider_id: str, status: str, reason: str | None) -> bool:
    values = {"status": status, "touched_at": datetime.now(UTC)}
    if reason:
        values["last_error"] = reason[:1000]
    query = (
        update(Outbox)
        .where(
            Outbox.channel == channel,
            Outbox.provider_message_id == provider_id,
            Outbox.status == OutboxStatus.SENT,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return session.execute(query).rowcount > 0
