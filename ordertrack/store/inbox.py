"""Writing to and reading from the inbox: the one table a 2xx promises is committed."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ordertrack.store.models import Inbox, InboxStatus


@dataclass(frozen=True)
class NewDelivery:
    source: str
    dedupe_key: str
    topic: str
    headers: dict[str, str]
    body: bytes
    handled: bool


def insert_ignoring_duplicates(connection: Connection, table):
    """INSERT ... ON CONFLICT DO NOTHING, on PostgreSQL and SQLite alike. Execute it with a
    list of rows: SQLAlchemy batches them into multi-row VALUES from one cached statement."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def record(connection: Connection, deliveries: Sequence[NewDelivery]) -> list[int | None]:
    """Insert a batch in one statement; for each delivery its new id, or None when the
    (source, dedupe_key) was already in the inbox (a duplicate changes nothing)."""
    now = datetime.now(UTC)
    rows = [
        {
            "source": d.source,
            "dedupe_key": d.dedupe_key,
            "topic": d.topic,
            "headers": d.headers,
            "body": d.body,
            "received_at": now,
            "touched_at": now,
            "status": InboxStatus.PENDING if d.handled else InboxStatus.IGNORED,
            "attempts": 0,
        }
        for d in deliveries
    ]
    table = Inbox.__table__
    statement = insert_ignoring_duplicates(connection, table).returning(
        table.c.id, table.c.source, table.c.dedupe_key
    )
    inserted = {(r.source, r.dedupe_key): r.id for r in connection.execute(statement, rows)}
    ids: list[int | None] = []
    for d in deliveries:
        ids.append(inserted.pop((d.source, d.dedupe_key), None))
    return ids


def unfinished(session: Session, untouched_for: timedelta, limit: int = 500) -> list[int]:
    """Rows still pending or processing long after they were last touched: Redis was down,
    a worker was killed, or a retry was stranded. The sweeper sends them again."""
    cutoff = datetime.now(UTC) - untouched_for
    query = (
        select(Inbox.id)
        .where(Inbox.status.in_(InboxStatus.UNFINISHED), Inbox.touched_at < cutoff)
        .order_by(Inbox.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def touch(session: Session, ids: Sequence[int]) -> None:
    """Mark rows as just enqueued so the sweeper leaves them alone for a while."""
    if ids:
        session.execute(update(Inbox).where(Inbox.id.in_(ids)).values(touched_at=datetime.now(UTC)))
