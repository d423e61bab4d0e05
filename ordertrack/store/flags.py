"""Delay flags as rows: the open ones per order, opening and clearing in sets, and the lists
the API and the console read. Which orders the periodic check walks: delay_candidates.py."""

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import func, literal, select, tuple_, update
from sqlalchemy.orm import Session, selectinload

from ordertrack import delays
from ordertrack.store import bulk, rollups
from ordertrack.store.flag_models import DelayFlag, FlagDay
from ordertrack.store.models import Order

OPEN = DelayFlag.cleared_at.is_(None)


def open_by_order(session: Session, order_ids: Iterable[int]) -> dict[int, list[DelayFlag]]:
    """Each order's open flags, oldest first, in one query."""
    found: dict[int, list[DelayFlag]] = defaultdict(list)
    ids = list(order_ids)
    if not ids:
        return found
    query = (
        select(DelayFlag)
        .where(DelayFlag.order_id.in_(ids), OPEN)
        .order_by(DelayFlag.since, DelayFlag.id)
    )
    for flag in session.scalars(query):
        found[flag.order_id].append(flag)
    return found


def is_open(session: Session, flag_id: int) -> bool:
    return session.scalar(select(DelayFlag.id).where(DelayFlag.id == flag_id, OPEN)) is not None


def open_keys(session: Session, order_ids: Iterable[int]) -> dict[int, dict[tuple[str, str], int]]:
    """Each order's open flags as {(parcel, kind): flag id}, in one query: all the check
    compares against. Read by the range of the ids, which the partial unique index on open
    flags serves whatever the planner believes of the table (a check that just raised
    thousands of flags leaves its statistics behind), then kept to these orders."""
    found: dict[int, dict[tuple[str, str], int]] = defaultdict(dict)
    ids = set(order_ids)
    if not ids:
        return found
    query = select(DelayFlag.order_id, DelayFlag.parcel, DelayFlag.kind, DelayFlag.id).where(
        DelayFlag.order_id.between(min(ids), max(ids)), OPEN
    )
    for order_id, parcel, kind, flag_id in session.execute(query):
        if order_id in ids:
            found[order_id][(parcel, kind)] = flag_id
    return found


class Opened(NamedTuple):
    """A flag just opened, as the check reports it and queues its news."""

    id: int
    order_id: int
    parcel: str
    kind: str
    since: datetime
    detail: str


def open_many(session: Session, flags: list[tuple[int, delays.Flag]], now: datetime):
    """Insert these (order id, flag) as open flags, in one statement; returns the rows actually
    new, oldest id first (a flag already open, or opened meanwhile by another check, is
    skipped by the unique index)."""
    rows = [
        {
            "order_id": order_id,
            "parcel": flag.parcel,
            "kind": flag.kind,
            "detail": flag.detail[:1000],
            "since": flag.since,
        }
        for order_id, flag in flags
    ]
    returning = ("id", "order_id", "parcel", "kind")
    inserted = bulk.insert_ignoring_duplicates_returning(
        session.connection(), DelayFlag.__table__, rows, returning, {"created_at": now}
    )
    # The rest of each row is the flag's own (one per order, parcel and kind).
    asked = {(order_id, flag.parcel, flag.kind): flag for order_id, flag in flags}
    opened = []
    for flag_id, order_id, parcel, kind in sorted(inserted):
        flag = asked[(order_id, parcel, kind)]
        opened.append(Opened(flag_id, order_id, parcel, kind, flag.since, flag.detail[:1000]))
    _count_days(session, "raised", Counter((_utc_day(now), row.kind) for row in opened))
    return opened


def clear(session: Session, flag_ids: list[int], now: datetime) -> list[DelayFlag]:
    """Clear these flags (those still open); returns the rows cleared."""
    if not flag_ids:
        return []
    query = (
        update(DelayFlag)
        .where(DelayFlag.id.in_(flag_ids), OPEN)
        .values(cleared_at=now)
        .returning(DelayFlag)
        .execution_options(synchronize_session=False)
    )
    cleared = list(session.scalars(query))
    _count_days(session, "cleared", Counter((_utc_day(now), row.kind) for row in cleared))
    return cleared


def _utc_day(moment: datetime):
    return moment.astimezone(UTC).date()


def _count_days(session: Session, column: str, counts: Counter) -> None:
    """Add these {(day, kind): n} to the day counts when the transaction commits: the check's
    batches and the workers' clears add to the same few rows (see rollups.Tally)."""
    rollups.Tally.of(session).add(FlagDay, (column,), _day_rows(counts))


def _day_rows(counts: Counter) -> list[tuple[tuple, tuple[int]]]:
    return [(key, (counts[key],)) for key in sorted(counts)]


def rebuild_days(session: Session) -> None:
    """Count the day rows again from the flags themselves (`ordertrack reports rebuild`)."""
    session.execute(FlagDay.__table__.delete())
    for column, name in ((DelayFlag.created_at, "raised"), (DelayFlag.cleared_at, "cleared")):
        query = select(column, DelayFlag.kind).where(column.is_not(None))
        counts = Counter(
            (_utc_day(at), kind)
            for at, kind in session.execute(query.execution_options(yield_per=10_000))
        )
        if counts:  # written now: a migration's session may never commit on its own
            rollups.add_counts(session, FlagDay, (name,), _day_rows(counts))


def open_flag_kinds(session: Session, kind: str | None = None):
    """The orders with an open flag (of this kind), as a subquery for the order list."""
    query = select(DelayFlag.order_id).where(OPEN)
    return query.where(DelayFlag.kind == kind) if kind else query


def attention(
    session: Session, after: tuple[datetime, int] | None = None, limit: int = 50
) -> tuple[list[tuple[DelayFlag, Order]], tuple[datetime, int] | None]:
    """Open flags, oldest first, with their orders (and parcels): the console's "Needs
    attention", a page at a time. Keyset on (since, id), which the partial index on open
    flags serves; returns the page and the key to pass as `after` (None on the last)."""
    query = (
        select(DelayFlag, Order)
        .join(Order, Order.id == DelayFlag.order_id)
        .where(OPEN)
        .order_by(DelayFlag.since, DelayFlag.id)
        .limit(limit + 1)
        .options(selectinload(Order.shipments))
    )
    if after is not None:
        query = query.where(
            tuple_(DelayFlag.since, DelayFlag.id)
            > tuple_(literal(after[0], DelayFlag.since.type), literal(after[1], DelayFlag.id.type))
        )
    rows = [(flag, order) for flag, order in session.execute(query)]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, ((rows[-1][0].since, rows[-1][0].id) if more else None)


def count_open(session: Session) -> int:
    return sum(count_open_by_kind(session).values())


def count_open_by_kind(session: Session) -> dict[str, int]:
    """{kind: open flags}, in the order delays.KINDS lists them; kinds with none left out.
    From the day counts (raised less cleared): a few rows per day, however many are open."""
    open_now = func.sum(FlagDay.raised) - func.sum(FlagDay.cleared)
    query = select(FlagDay.kind, open_now).group_by(FlagDay.kind)
    counts = {kind: int(n) for kind, n in session.execute(query) if n}
    return {kind: counts[kind] for kind in (*delays.KINDS, *sorted(counts)) if kind in counts}


def raised_and_cleared(session: Session, first, last) -> list[tuple]:
    """(day, raised, cleared) for each UTC day from `first` to `last` with any."""
    query = (
        select(FlagDay.day, func.sum(FlagDay.raised), func.sum(FlagDay.cleared))
        .where(FlagDay.day.between(first, last))
        .group_by(FlagDay.day)
        .order_by(FlagDay.day)
    )
    return [tuple(row) for row in session.execute(query)]


def flag_document(flag: DelayFlag) -> dict:
    """A flag as the API shows it."""
    return {
        "kind": flag.kind,
        "parcel": flag.parcel or None,
        "since": flag.since.isoformat(),
        "detail": flag.detail,
    }
