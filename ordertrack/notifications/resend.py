"""A merchant's resend of a message that failed for good."""

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ordertrack.store.models import Outbox, OutboxStatus


def mark_for_resend(session: Session, outbox_id: int) -> Outbox | None:
    """The row, made pending again if it had failed (locked, so two resends are one); None
    when there is no such row. A row in any other state is returned as it is."""
    query = select(Outbox).where(Outbox.id == outbox_id).with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None or row.status != OutboxStatus.FAILED:
        return row
    now = datetime.now(UTC)
    row.status, row.attempts, row.due_at, row.touched_at = OutboxStatus.PENDING, 0, None, now
    row.last_error = f"resent by the merchant after: {row.last_error or 'a failure'}"[:1000]
    return row
