"""Rows that should have moved on by now: what the sweeper sends to the queue again.

The sweeper must never wait on a row: one held by a worker mid-transaction (or by anyone at
a psql prompt) would otherwise stop every re-drive, alert and delay check behind it. So its
reads lock what they return with FOR UPDATE SKIP LOCKED (a held row is simply left for the
next sweep) and its touch then only updates rows it already holds. SQLite has no row locks
(its writers take turns), so there the same queries run without the clause."""

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

#: The longest the sweeper's transaction waits for any lock (a table lock taken by a
#: migration, say): then that pass fails, is logged, and the next one tries again.
SWEEPER_LOCK_TIMEOUT_MS = 2000


def bound_lock_waits(session: Session, timeout_ms: int = SWEEPER_LOCK_TIMEOUT_MS) -> None:
    """On PostgreSQL, a lock wait in this transaction fails after `timeout_ms`."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL lock_timeout = {int(timeout_ms)}"))


def overdue_ids(session: Session, model, statuses, touched_before: datetime, limit: int, *where):
    """Ids of `model` rows in one of `statuses` last touched before the cutoff, oldest first,
    locked for this transaction; rows another transaction holds are skipped. Works for any
    table with `id`, `status` and `touched_at` (the inbox and the outbox)."""
    query = (
        select(model.id)
        .where(model.status.in_(statuses), model.touched_at < touched_before, *where)
        .order_by(model.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=model)
    )
    return list(session.scalars(query))


def touch(session: Session, model, ids: Sequence[int], statuses) -> None:
    """Mark rows in `statuses` as just sent again, so the next sweep leaves them alone for a
    while. Leave others be: an abandoned `sending` row must stay past its lease to be
    claimed again. `ids` come from `overdue_ids` in this transaction, so every row is
    already ours: this never waits."""
    if ids:
        statement = (
            update(model)
            .where(model.id.in_(ids), model.status.in_(statuses))
            .values(touched_at=datetime.now(UTC))
        )
        session.execute(statement.execution_options(synchronize_session=False))
