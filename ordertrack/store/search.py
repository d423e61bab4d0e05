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

from sqlalchemy import Select, and_, func, or_, select, union
from sqlalchemy.orm import Session, selectinload

from ordertrack.facts import normalize_tracking_number
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


@dataclass(frozen=True)
class OrderPage:
    orders: list[Order]
    #: Pass back as `cursor` for the next page; None on the last one.
    next_cursor: str | None


def search_orders(
    session: Session, filters: OrderFilters, cursor: str | None = None, limit: int = DEFAULT_LIMIT
) -> OrderPage:
    limit = max(1, min(limit, MAX_LIMIT))
    query = _filtered(select(Order), filters)
    if cursor:
        at, order_id = decode_cursor(cursor)
        query = query.where(
            or_(Order.updated_at < at, and_(Order.updated_at == at, Order.id < order_id))
        )
    query = query.order_by(Order.updated_at.desc(), Order.id.desc()).limit(limit + 1)
    rows = list(session.scalars(query.options(selectinload(Order.shipments))))
    more = len(rows) > limit
    rows = rows[:limit]
    return OrderPage(rows, encode_cursor(rows[-1]) if more else None)


def _filtered(query: Select, filters: OrderFilters) -> Select:
    if filters.q and filters.q.strip():
        query = query.where(Order.id.in_(_matching_ids(filters.q.strip())))
    if filters.status:
        query = query.where(Order.status == filters.status)
    if filters.platform:
        query = query.where(Order.platform == filters.platform)
    if filters.carrier:
        carrier = filters.carrier.strip().lower()
        parcels = select(Shipment.order_id).where(
            or_(
                func.lower(Shipment.carrier) == carrier,
                func.lower(Shipment.reported_carrier) == carrier,
            )
        )
        query = query.where(Order.id.in_(parcels))
    if filters.since:
        query = query.where(Order.updated_at >= filters.since)
    if filters.until:
        query = query.where(Order.updated_at < filters.until)
    return query


def _matching_ids(term: str):
    """The orders a search term names, each way it can name one, as one UNION of indexed
    look-ups."""
    number = term.removeprefix("#")
    lowered = term.lower()
    prefix = _escape_like(lowered) + "%"
    return union(
        select(Order.id).where(Order.external_id == number),
        select(Order.id).where(Order.name.in_([term, f"#{number}", number])),
        select(Order.id).where(func.lower(Order.email) == lowered),
        select(Order.id).where(func.lower(Order.customer_name).like(prefix, escape="\\")),
        select(Shipment.order_id).where(
            Shipment.tracking_number == normalize_tracking_number(term)
        ),
    )


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
