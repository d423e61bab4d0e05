"""Returns in the database: what an order may still return, creating a request, moving one
along its line (`ordertrack.returns.line` says which moves are legal), the merchant's
filtered list, and the documents the API and CSV export show."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from ordertrack.returns import line
from ordertrack.returns.line import MovedBy, ReturnStatus
from ordertrack.store.models import Order, Shipment
from ordertrack.store.return_models import Return, ReturnEvent, ReturnItem

_LIVE = (Shipment.cancelled.is_(False), Shipment.removed.is_(False))


def delivered_at(session: Session, order: Order) -> datetime | None:
    """When the order's last live parcel was delivered; for an order the platform alone
    calls delivered or completed (no carrier events), when the platform said so."""
    query = select(func.max(Shipment.status_at)).where(
        Shipment.order_id == order.id, Shipment.status == "delivered", *_LIVE
    )
    latest = session.scalar(query)
    if latest is None and order.platform_status in ("delivered", "completed"):
        return order.platform_status_at
    return latest


def return_window(session: Session, order: Order, now: datetime, days: int) -> line.Window:
    return line.window(order.status, delivered_at(session, order), now, days)


def returned_quantities(session: Session, order_id: int) -> dict[str, int]:
    """Per line item, how many the order's returns already hold (a rejected one holds none)."""
    query = (
        select(ReturnItem.line_item_id, func.sum(ReturnItem.quantity))
        .join(Return, Return.id == ReturnItem.return_id)
        .where(Return.order_id == order_id, Return.status.in_(list(line.HOLDS_ITEMS)))
        .group_by(ReturnItem.line_item_id)
    )
    return {item: int(total) for item, total in session.execute(query)}


def returnable(session: Session, order: Order) -> list[dict]:
    """Each order line with how many of it may still be returned."""
    taken = returned_quantities(session, order.id)
    return [
        item | {"returnable": max(0, item["quantity"] - taken.get(item["external_id"], 0))}
        for item in order.items or ()
    ]


def order_returns(session: Session, order_id: int) -> list[Return]:
    query = select(Return).where(Return.order_id == order_id).order_by(Return.id.desc())
    return list(session.scalars(query.options(selectinload(Return.items))))


def create(
    session: Session,
    order: Order,
    reason: str,
    comment: str | None,
    quantities: dict[str, int],
    at: datetime,
) -> Return:
    """A new return, requested by the customer. The caller has checked the window and the
    quantities with the order locked (`lock_order`), in this same transaction."""
    titles = {item["external_id"]: item["title"] for item in order.items or ()}
    row = Return(
        order_id=order.id,
        status=ReturnStatus.REQUESTED,
        reason=reason,
        comment=comment,
        created_at=at,
        updated_at=at,
    )
    row.items = [
        ReturnItem(line_item_id=item, title=titles[item][:255], quantity=quantity)
        for item, quantity in sorted(quantities.items())
    ]
    row.events = [ReturnEvent(at=at, status=ReturnStatus.REQUESTED, actor=MovedBy.CUSTOMER)]
    session.add(row)
    session.flush()
    return row


def lock_order(session: Session, order_id: int) -> Order | None:
    """The order, locked against a second request counting the same items (PostgreSQL)."""
    return session.get(Order, order_id, with_for_update=True)


def get(session: Session, return_id: int, *, lock: bool = False) -> Return | None:
    return session.get(Return, return_id, with_for_update=lock)


def move(
    session: Session,
    row: Return,
    target: ReturnStatus,
    actor: MovedBy,
    at: datetime,
    note: str | None = None,
) -> Return:
    """One step on the line, recorded; IllegalTransition if the line does not allow it."""
    row.status = line.check(row.status, target)
    row.updated_at = at
    if note:
        row.note = note
    row.events.append(ReturnEvent(at=at, status=target, note=note, actor=actor))
    session.flush()
    return row


def mark_refunded_by_platform(session: Session, order_id: int, at: datetime) -> list[Return]:
    """The platform refunded the order (Shopify refunds/create, WooCommerce refunded): each
    of its returns that the line lets become refunded does so. Requested ones wait for the
    merchant, as a refund may be for something else (shipping, a missing item)."""
    query = (
        select(Return)
        .where(Return.order_id == order_id)
        .where(Return.status.in_([s for s in ReturnStatus if line.allowed(s, "refunded")]))
        .with_for_update()
    )
    rows = list(session.scalars(query))
    for row in rows:
        move(session, row, ReturnStatus.REFUNDED, MovedBy.PLATFORM, at, "refunded on the platform")
    return rows


def mark_received_by_carrier(session: Session, tracking_number: str, at: datetime) -> list[Return]:
    """A carrier says the return parcel with this number was delivered (to the shop)."""
    number = "".join(tracking_number.split()).upper()
    query = select(Return).where(
        Return.tracking_number == number, Return.status == ReturnStatus.IN_TRANSIT
    )
    rows = list(session.scalars(query.with_for_update()))
    for row in rows:
        move(session, row, ReturnStatus.RECEIVED, MovedBy.CARRIER, at, "delivered to the shop")
    return rows


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    order: str | None = None


def search(
    session: Session, filters: Filters, limit: int | None = None
) -> list[tuple[Return, Order]]:
    """The merchant's list, newest first."""
    query = select(Return, Order).join(Order, Order.id == Return.order_id)
    if filters.status:
        query = query.where(Return.status == filters.status)
    if filters.reason:
        query = query.where(Return.reason == filters.reason)
    if filters.since:
        query = query.where(Return.created_at >= filters.since)
    if filters.until:
        query = query.where(Return.created_at < filters.until)
    if filters.order:
        query = query.where(or_(Order.external_id == filters.order, Order.name == filters.order))
    query = query.order_by(Return.created_at.desc(), Return.id.desc()).limit(limit)
    found = session.execute(query.options(selectinload(Return.items)))
    return [(row, order) for row, order in found]


def document(row: Return, order: Order, *, history: bool = False) -> dict:
    body = {
        "id": row.id,
        "status": row.status,
        "reason": row.reason,
        "comment": row.comment,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "tracking_number": row.tracking_number,
        "carrier": row.carrier,
        "note": row.note,
        "order": {"platform": order.platform, "external_id": order.external_id, "name": order.name},
        "items": [
            {"line_item_id": i.line_item_id, "title": i.title, "quantity": i.quantity}
            for i in row.items
        ],
    }
    if history:
        body["history"] = [
            {"at": e.at.isoformat(), "status": e.status, "note": e.note, "actor": e.actor}
            for e in row.events
        ]
    return body
