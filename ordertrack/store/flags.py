"""Delay flags as rows: the open ones per order, opening and clearing in sets, the orders the
periodic check walks (keyset by id), and the lists the API and the console read."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, literal, or_, select, tuple_, update
from sqlalchemy.orm import Session, selectinload

from ordertrack import delays
from ordertrack.store.flag_models import DelayFlag
from ordertrack.store.inbox import insert_ignoring_duplicates
from ordertrack.store.models import History, Order

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


def placed_at(session: Session, orders: Iterable[Order]) -> dict[int, datetime]:
    """When each order was placed, as far as we know: the earliest time a platform reported
    it (the order's history), else when its row was created here."""
    by_id = {order.id: order.created_at for order in orders}
    if not by_id:
        return {}
    query = (
        select(History.order_id, func.min(History.occurred_at))
        .where(History.order_id.in_(list(by_id)), History.kind == "order")
        .group_by(History.order_id)
    )
    for order_id, first in session.execute(query):
        by_id[order_id] = min(first, by_id[order_id])
    return by_id


def open_flags(session: Session, order_id: int, flags: list[delays.Flag], now: datetime):
    """Insert these as open flags of the order; returns the rows actually new (a flag
    already open, or opened meanwhile by another check, is skipped by the unique index)."""
    if not flags:
        return []
    rows = [
        {
            "order_id": order_id,
            "parcel": flag.parcel,
            "kind": flag.kind,
            "detail": flag.detail[:1000],
            "since": flag.since,
            "created_at": now,
            "cleared_at": None,
        }
        for flag in flags
    ]
    table = DelayFlag.__table__
    statement = insert_ignoring_duplicates(session.connection(), table).returning(table.c.id)
    ids = list(session.scalars(statement, rows))
    return list(session.scalars(select(DelayFlag).where(DelayFlag.id.in_(ids)))) if ids else []


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
    return list(session.scalars(query))


def orders_to_check(session: Session, after_id: int, limit: int) -> list[Order]:
    """The next batch of orders that may be late or have a flag to clear, by id, locked:
    an order a worker is applying an event to is skipped (that event re-checks it)."""
    flagged = select(DelayFlag.order_id).where(OPEN)
    query = (
        select(Order)
        .where(
            Order.id > after_id,
            or_(Order.status.in_(list(delays.OPEN_STATUSES)), Order.id.in_(flagged)),
        )
        .order_by(Order.id)
        .limit(limit)
        .options(selectinload(Order.shipments))
        .with_for_update(of=Order, skip_locked=True)
    )
    return list(session.scalars(query))


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
    return session.scalar(select(func.count()).select_from(DelayFlag).where(OPEN)) or 0


def count_open_by_kind(session: Session) -> dict[str, int]:
    """{kind: open flags}, in the order delays.KINDS lists them; kinds with none left out."""
    query = select(DelayFlag.kind, func.count()).where(OPEN).group_by(DelayFlag.kind)
    counts = dict(session.execute(query).all())
    return {kind: counts[kind] for kind in (*delays.KINDS, *sorted(counts)) if kind in counts}


def flag_document(flag: DelayFlag) -> dict:
    """A flag as the API shows it."""
    return {
        "kind": flag.kind,
        "parcel": flag.parcel or None,
        "since": flag.since.isoformat(),
        "detail": flag.detail,
    }
