"""The merchant's order list: search, filters, newest change first, keyset paging.

One query serves the console and `GET /api/v1/orders`. A search term is tried as each thing a
merchant types: an order number (with or without its "#"), a customer's email, the start of
their name, a tracking number. Each of those is an indexed look-up of its own, and their ids
are united, so the list stays fast with millions of orders. The cursor is the last row's
(updated_at, id), opaque to the caller: a page never repeats or skips a row that did not
change meanwhile.
"""

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, literal, or_, select, tuple_, union
from sqlalchemy.orm import Session, selectinload

from ordertrack.facts import normalize_tracking_number
from ordertrack.store.flag_models import DelayFlag
from ordertrack.store.models import Order, Shipment

#: A page of the list: enough to scan, small enough to answer at once.
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class BadCursor(ValueError):
    """The cursor was not one this service handed out."""


@dataclass(frozen=True)
class OrderFilters:
    q: str | None = None
    status: str | None = None
    platform: str | None = None
    carrier: str | None = None
    #: Last change on or after / before this moment.
    since: datetime | None = None
    until: datetime | None = None
    #: Only orders with an open delay flag of this kind, or of any kind ("any").
    flag: str | None = None


#: The `flag` filter's value for "any open delay flag".
ANY_FLAG = "any"


@dataclass(frozen=True)
class OrderPage:
    orders: list[Order]
    #: Pass back as `cursor` for the next page; None on the last one.
    next_cursor: str | None


def search_orders(
    session: Session, filters: OrderFilters, cursor: str | None = None, limit: int = DEFAULT_LIMIT
) -> OrderPage:
    limit = max(1, min(limit, MAX_LIMIT))
    conditions = _conditions(filters)
    if cursor:
        at, order_id = decode_cursor(cursor)
        # One row-value comparison, not `updated_at < at OR (= at AND id < ...)`: PostgreSQL
        # starts the index scan at the cursor instead of filtering every newer row on the way.
        conditions.append(
            tuple_(Order.updated_at, Order.id)
            < tuple_(literal(at, Order.updated_at.type), literal(order_id, Order.id.type))
        )
    if filters.q and filters.q.strip():
        conditions = [Order.id.in_(_matching_ids(filters.q.strip(), conditions, limit + 1))]
    query = select(Order).where(*conditions).order_by(*NEWEST_FIRST).limit(limit + 1)
    rows = list(session.scalars(query.options(selectinload(Order.shipments))))
    more = len(rows) > limit
    rows = rows[:limit]
    return OrderPage(rows, encode_cursor(rows[-1]) if more else None)


#: The list's order: last change first, the id breaking ties (the cursor's two columns).
NEWEST_FIRST = (Order.updated_at.desc(), Order.id.desc())


def _conditions(filters: OrderFilters) -> list:
    """The filters other than `q`, as conditions on Order."""
    conditions = []
    if filters.status:
        conditions.append(Order.status == filters.status)
    if filters.platform:
        conditions.append(Order.platform == filters.platform)
    if filters.carrier:
        carrier = filters.carrier.strip().lower()
        parcels = select(Shipment.order_id).where(
            or_(
                func.lower(Shipment.carrier) == carrier,
                func.lower(Shipment.reported_carrier) == carrier,
            )
        )
        conditions.append(Order.id.in_(parcels))
    if filters.flag:
        flagged = select(DelayFlag.order_id).where(DelayFlag.cleared_at.is_(None))
        if filters.flag != ANY_FLAG:
            flagged = flagged.where(DelayFlag.kind == filters.flag)
        conditions.append(Order.id.in_(flagged))
    if filters.since:
        conditions.append(Order.updated_at >= filters.since)
    if filters.until:
        conditions.append(Order.updated_at < filters.until)
    return conditions


def _matching_ids(term: str, conditions: list, page: int):
    """The orders a search term names, each way it can name one (an indexed look-up), as one
    UNION. Each way keeps only its newest `page` orders that pass the other filters: the page
    is among them, and a common name's prefix ("maria") does not fetch and sort thousands of
    orders to show fifty."""
    number = term.removeprefix("#")
    lowered = term.lower()
    prefix = _escape_like(lowered) + "%"
    parcels = select(Shipment.order_id).where(
        Shipment.tracking_number == normalize_tracking_number(term)
    )
    ways = (
        Order.external_id == number,
        Order.name.in_([term, f"#{number}", number]),
        func.lower(Order.email) == lowered,
        func.lower(Order.customer_name).like(prefix, escape="\\"),
        Order.id.in_(parcels),
    )
    newest = []
    for way in ways:
        # A subquery each: SQLite takes no ORDER BY or LIMIT on a UNION's parts.
        part = select(Order.id).where(way, *conditions).order_by(*NEWEST_FIRST).limit(page)
        newest.append(select(part.subquery().c.id))
    return union(*newest)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def encode_cursor(order: Order) -> str:
    raw = f"{order.updated_at.isoformat()}|{order.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, order_id = raw.partition("|")
        parsed = datetime.fromisoformat(at)
        if parsed.tzinfo is None:
            raise ValueError("naive time")
        return parsed, int(order_id)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise BadCursor("cursor is not one this service gave out") from exc
