"""Writing to and reading from the inbox: the one table a 2xx promises is committed."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ordertrack.store.models import Inbox, InboxStatus
from ordertrack.store.overdue import overdue_ids


@dataclass(frozen=True)
class NewInboxRow:
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


#: The receiver's hot path on PostgreSQL: one statement for the whole batch, columns passed
#: as arrays, so the cost per row is the server's, not Python's.
_PG_RECORD = """
INSERT INTO inbox (source, dedupe_key, topic, headers, body, received_at, touched_at,
                   status, attempts)
SELECT u.source, u.dedupe_key, u.topic, CAST(u.headers AS json), u.body, %(now)s, %(now)s,
       u.status, 0
FROM unnest(%(source)s::text[], %(dedupe_key)s::text[], %(topic)s::text[],
            %(headers)s::text[], %(body)b::bytea[], %(status)s::text[])
     AS u(source, dedupe_key, topic, headers, body, status)
ON CONFLICT (source, dedupe_key) DO NOTHING
RETURNING id, source, dedupe_key
"""


def record(connection: Connection, deliveries: Sequence[NewInboxRow]) -> list[int | None]:
    """Insert a batch in one statement; for each delivery its new id, or None when the
    (source, dedupe_key) was already in the inbox (a duplicate changes nothing)."""
    if connection.dialect.name == "postgresql":
        inserted = _record_postgres(connection, deliveries)
    else:
        inserted = _record_portable(connection, deliveries)
    return [inserted.pop((d.source, d.dedupe_key), None) for d in deliveries]


def _status(delivery: NewInboxRow) -> str:
    return InboxStatus.PENDING if delivery.handled else InboxStatus.IGNORED


def _record_postgres(connection: Connection, deliveries: Sequence[NewInboxRow]) -> dict:
    params = {
        "now": datetime.now(UTC),
        "source": [d.source for d in deliveries],
        "dedupe_key": [d.dedupe_key for d in deliveries],
        "topic": [d.topic for d in deliveries],
        "headers": [json.dumps(d.headers) for d in deliveries],
        "body": [d.body for d in deliveries],
        "status": [_status(d) for d in deliveries],
    }
    rows = connection.exec_driver_sql(_PG_RECORD, params)
    return {(source, key): inbox_id for inbox_id, source, key in rows}


def _record_portable(connection: Connection, deliveries: Sequence[NewInboxRow]) -> dict:
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
            "status": _status(d),
            "attempts": 0,
        }
        for d in deliveries
    ]
    table = Inbox.__table__
    statement = insert_ignoring_duplicates(connection, table).returning(
        table.c.id, table.c.source, table.c.dedupe_key
    )
    return {(r.source, r.dedupe_key): r.id for r in connection.execute(statement, rows)}


def unfinished(
    session: Session, untouched_for: timedelta, limit: int = 500, after_id: int = 0
) -> list[int]:
    """Rows still pending or processing long after they were last touched: Redis was down,
    a worker was killed, or a retry was stranded. The sweeper sends them again, a batch at
    a time from `after_id` on; each is locked, and a row another transaction holds is left."""
    cutoff = datetime.now(UTC) - untouched_for
    return overdue_ids(session, Inbox, InboxStatus.UNFINISHED, cutoff, limit, Inbox.id > after_id)


#: The rows still to be applied: the inbox's backlog.
BACKLOG_STATUSES = (InboxStatus.PENDING, InboxStatus.PROCESSING, InboxStatus.PARKED)


@dataclass(frozen=True)
class Backlog:
    #: Rows per backlog status, every status present (0 when none).
    rows: dict[str, int]
    #: When the oldest pending row was received; None when nothing is pending.
    oldest_pending_at: datetime | None


def backlog(session: Session) -> Backlog:
    """How much waits to be applied, and since when: two small indexed queries, cheap enough
    to run on every metrics scrape."""
    counts = dict(
        session.execute(
            select(Inbox.status, func.count())
            .where(Inbox.status.in_(BACKLOG_STATUSES))
            .group_by(Inbox.status)
        ).all()
    )
    oldest = session.scalar(
        select(func.min(Inbox.received_at)).where(Inbox.status == InboxStatus.PENDING)
    )
    return Backlog({status: counts.get(status, 0) for status in BACKLOG_STATUSES}, oldest)
