"""Who asked to hear no more, per channel: recorded from the signed link, checked by the
sender before every message."""

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ordertrack.store.inbox import insert_ignoring_duplicates
from ordertrack.store.models import Unsubscribe


def record(session: Session, channel: str, recipient: str) -> None:
    row = {"channel": channel, "recipient": recipient, "created_at": datetime.now(UTC)}
    table = Unsubscribe.__table__
    session.execute(insert_ignoring_duplicates(session.connection(), table), [row])


def has_unsubscribed(session: Session, channel: str, recipient: str) -> bool:
    query = select(Unsubscribe.created_at).where(
        Unsubscribe.channel == channel, Unsubscribe.recipient == recipient
    )
    return session.scalar(query) is not None
