"""Rows that should have moved on by now: what the sweeper sends to the queue again."""

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session


def overdue_ids(session: Session, model, statuses, touched_before: datetime, limit: int, *where):
    """Ids of `model` rows in one of `statuses` last touched before the cutoff, oldest first.
    Works for any table with `id`, `status` and `touched_at` (the inbox and the outbox)."""
    query = (
        select(model.id)
        .where(model.status.in_(statuses), model.touched_at < touched_before, *where)
        .order_by(model.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def touch(session: Session, model, ids: Sequence[int], statuses) -> None:
    """Mark rows in `statuses` as just sent again, so the next sweep leaves them alone for a
    while. Leave others be: an abandoned `sending` row must stay past its lease to be
    claimed again."""
    if ids:
        statement = (
            update(model)
            .where(model.id.in_(ids), model.status.in_(statuses))
            .values(touched_at=datetime.now(UTC))
        )
        session.execute(statement.execution_options(synchronize_session=False))
