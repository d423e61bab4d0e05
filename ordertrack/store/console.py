"""What the merchant console reads that the API does not: the inbox by source and outcome,
the webhooks that need a person, unknown codes with an example, an order's timeline with each
entry's source webhook (and when it arrived)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ordertrack.store.models import History, Inbox, InboxStatus

#: The inbox's list of webhooks that need a person.
NEEDS_A_PERSON = (InboxStatus.FAILED, InboxStatus.PARKED)
PAGE = 50


@dataclass(frozen=True)
class WebhookRow:
    id: int
    source: str
    topic: str
    status: str
    attempts: int
    received_at: datetime
    last_error: str | None


def counts_since(session: Session, since: datetime) -> dict[str, dict[str, int]]:
    """{source: {status: webhooks received since then}}."""
    query = (
        select(Inbox.source, Inbox.status, func.count())
        .where(Inbox.received_at >= since)
        .group_by(Inbox.source, Inbox.status)
    )
    counts: dict[str, dict[str, int]] = {}
    for source, status, count in session.execute(query):
        counts.setdefault(source, {})[status] = count
    return dict(sorted(counts.items()))


_COLUMNS = (
    Inbox.id,
    Inbox.source,
    Inbox.topic,
    Inbox.status,
    Inbox.attempts,
    Inbox.received_at,
    Inbox.last_error,
)


def needing_a_person(
    session: Session,
    statuses: tuple[str, ...] = NEEDS_A_PERSON,
    before_id: int | None = None,
    min_attempts: int = 0,
    limit: int = PAGE,
) -> tuple[list[WebhookRow], int | None]:
    """Failed or parked webhooks, newest first, a page at a time (keyset on the id), and the
    id to pass as `before_id` for the next page (None on the last)."""
    query = select(*_COLUMNS).where(Inbox.status.in_(statuses))
    if min_attempts:
        query = query.where(Inbox.attempts >= min_attempts)
    if before_id:
        query = query.where(Inbox.id < before_id)
    rows = [
        WebhookRow(*row)
        for row in session.execute(query.order_by(Inbox.id.desc()).limit(limit + 1))
    ]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].id if more else None


def webhook(session: Session, inbox_id: int) -> Inbox | None:
    return session.get(Inbox, inbox_id)


def unknown_codes(session: Session) -> list[dict]:
    """Each code a provider sent that no table maps: how often, first and last seen, and one
    webhook that carried it."""
    query = (
        select(
            History.source,
            History.raw_status,
            func.count(),
            func.min(History.occurred_at),
            func.max(History.occurred_at),
            func.min(History.inbox_id),
        )
        .where(History.status == "unknown")
        .group_by(History.source, History.raw_status)
        .order_by(func.count().desc(), History.source, History.raw_status)
    )
    names = ("source", "raw_status", "count", "first_seen", "last_seen", "example_inbox_id")
    return [dict(zip(names, row, strict=True)) for row in session.execute(query)]


def timeline(session: Session, order_id: int) -> list[dict]:
    """An order's history, newest first, each entry with its source webhook."""
    query = (
        select(History, Inbox.topic, Inbox.dedupe_key, Inbox.received_at, Inbox.status)
        .join(Inbox, Inbox.id == History.inbox_id)
        .where(History.order_id == order_id)
        .order_by(History.occurred_at.desc(), History.inbox_id.desc(), History.fact_index.desc())
    )
    return [
        {
            "entry": entry,
            "webhook": {
                "id": entry.inbox_id,
                "source": entry.source,
                "topic": topic,
                "delivery_id": dedupe_key,
                "received_at": received_at,
                "status": status,
            },
        }
        for entry, topic, dedupe_key, received_at, status in session.execute(query)
    ]


def order_inbox_ids(session: Session, order_id: int) -> list[int]:
    """The webhooks an order's history came from: what replaying the order replays."""
    query = select(History.inbox_id).where(History.order_id == order_id).distinct()
    return sorted(session.scalars(query))


def last_day(now: datetime) -> datetime:
    return now - timedelta(hours=24)
