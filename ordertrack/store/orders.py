"""Orders and shipments as rows, and the lifecycle's OrderState as the bridge between them."""

from dataclasses import asdict
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session, joinedload, selectinload

from ordertrack.facts import Customer, LineItem, ShipmentRef
from ordertrack.lifecycle.matching import best_claim
from ordertrack.lifecycle.state import OrderState, ShipmentState
from ordertrack.statuses import OrderStatus, ShipmentStatus
from ordertrack.store.inbox import insert_ignoring_duplicates
from ordertrack.store.models import Order, Shipment


def lock_or_create(session: Session, platform: str, external_id: str) -> Order:
    """The order row, locked for this transaction (PostgreSQL), created if it is new. Every
    change to one order goes through this lock, so concurrent workers never interleave."""
    order = _locked(session, Order.platform == platform, Order.external_id == external_id)
    if order is not None:
        return order
    now = datetime.now(UTC)
    row = {
        "platform": platform,
        "external_id": external_id,
        "platform_status": OrderStatus.RECEIVED.value,
        "status": OrderStatus.RECEIVED.value,
        "furthest_stage": 0,
        "items": [],
        "created_at": now,
        "updated_at": now,
    }
    session.execute(insert_ignoring_duplicates(session.connection(), Order.__table__), [row])
    return _locked(session, Order.platform == platform, Order.external_id == external_id)


def load_order(session: Session, order_id: int) -> Order:
    """An order with its shipments, in one query, unlocked (for reading: each notification
    sent reads one)."""
    query = select(Order).where(Order.id == order_id).options(joinedload(Order.shipments))
    return session.scalars(query).unique().one()


def lock_order(session: Session, order_id: int) -> Order:
    """An order with its shipments, locked for this transaction (PostgreSQL)."""
    return _locked(session, Order.id == order_id)


def _locked(session: Session, *where) -> Order | None:
    # selectinload, not joinedload: the shipments must be read by a second query once the
    # lock is ours. A join would read them from the snapshot taken before waiting for the
    # lock, and miss a shipment that the transaction we waited for had just added.
    query = (
        select(Order)
        .where(*where)
        .options(selectinload(Order.shipments))
        .with_for_update(of=Order)
        .execution_options(populate_existing=True)
    )
    return session.scalars(query).first()


def lock_tracking_numbers(session: Session, numbers: set[str]) -> None:
    """Serialize every transaction that parks, unparks or attaches these tracking numbers.
    Without it a carrier event could park itself just after the fulfillment that names its
    number looked for parked events, and wait for the sweeper. Taken before any order lock,
    in sorted order, so two transactions never wait on each other. (SQLite already writes
    one transaction at a time.)"""
    if not numbers or session.get_bind().dialect.name != "postgresql":
        return
    session.execute(
        text(
            "SELECT pg_advisory_xact_lock(hashtextextended(n, 0))"
            " FROM unnest(CAST(:numbers AS text[])) AS n ORDER BY n"
        ),
        {"numbers": sorted(numbers)},
    )


def find_by_tracking_number(
    session: Session, ref: ShipmentRef, occurred_at: datetime
) -> Order | None:
    """The order whose shipment this carrier event is about, locked: the same number and
    carrier, and the parcel that had the number at the event's time (`matching.claims`), so a
    number the carrier reused months later never merges two orders. None parks the event."""
    query = select(
        Shipment.order_id,
        Shipment.tracking_number,
        Shipment.carrier,
        Shipment.labelled_at,
        Shipment.fulfilled_at,
        Shipment.cancelled,
        Shipment.removed,
    ).where(Shipment.tracking_number == ref.tracking_number)
    found = best_claim(list(session.execute(query)), ref, occurred_at)
    return _locked(session, Order.id == found.order_id) if found else None


def to_state(order: Order) -> OrderState:
    return OrderState(
        platform_status=OrderStatus(order.platform_status),
        platform_status_at=order.platform_status_at,
        status=OrderStatus(order.status),
        furthest_stage=order.furthest_stage,
        name=order.name,
        customer=Customer(
            email=order.email,
            phone=order.phone,
            name=order.customer_name,
            sms_consent=order.sms_consent,
            locale=order.locale,
            country_code=order.country_code,
            province_code=order.province_code,
            postcode=order.postcode,
        ),
        items=tuple(LineItem(**item) for item in order.items or ()),
        info_at=order.info_at,
        fulfillment_list=_tuple_or_none(order.fulfillment_list),
        fulfillment_list_at=order.fulfillment_list_at,
        shipments=tuple(_shipment_state(s) for s in order.shipments),
    )


def _shipment_state(row: Shipment) -> ShipmentState:
    return ShipmentState(
        key=row.key,
        fulfillment_id=row.fulfillment_id,
        carrier=row.carrier,
        tracking_number=row.tracking_number,
        tracking_url=row.tracking_url,
        status=ShipmentStatus(row.status),
        status_at=row.status_at,
        raw_status=row.raw_status,
        detail=row.detail,
        est_delivery=row.est_delivery,
        est_delivery_at=row.est_delivery_at,
        fulfilled_at=row.fulfilled_at,
        labelled_at=row.labelled_at,
        reported_carrier=row.reported_carrier,
        items=tuple(LineItem(**item) for item in row.items or ()),
        cancelled=row.cancelled,
        removed=row.removed,
        failed_attempts=tuple(datetime.fromisoformat(at) for at in row.failed_attempts or ()),
        furthest_stage=row.furthest_stage or 0,
        relabels=row.relabels or 0,
    )


def save_state(order: Order, state: OrderState) -> None:
    order.platform_status = state.platform_status.value
    order.platform_status_at = state.platform_status_at
    order.status = state.status.value
    order.furthest_stage = state.furthest_stage
    order.name = state.name
    order.email = state.customer.email
    order.phone = state.customer.phone
    order.customer_name = state.customer.name
    order.sms_consent = state.customer.sms_consent
    order.locale = state.customer.locale
    order.country_code = state.customer.country_code
    order.province_code = state.customer.province_code
    order.postcode = state.customer.postcode
    order.items = [asdict(item) for item in state.items]
    order.info_at = state.info_at
    order.fulfillment_list = _list_or_none(state.fulfillment_list)
    order.fulfillment_list_at = state.fulfillment_list_at
    order.updated_at = datetime.now(UTC)
    rows = {row.key: row for row in order.shipments}
    for shipment in state.shipments:
        row = rows.get(shipment.key)
        if row is None:
            row = Shipment(key=shipment.key)
            order.shipments.append(row)
        values = asdict(shipment)
        values["status"] = shipment.status.value
        values["failed_attempts"] = [at.isoformat() for at in shipment.failed_attempts] or None
        for name, value in values.items():
            setattr(row, name, value)
    _fit_columns(order, *order.shipments)


def _fit_columns(*rows) -> None:
    """Cut text to its column's width: a 70-character order name must not fail a whole
    event on PostgreSQL (SQLite never checks widths, so only production would notice)."""
    for row in rows:
        for column in row.__table__.columns:
            width = getattr(column.type, "length", None)
            value = getattr(row, column.key, None)
            if width and isinstance(value, str) and len(value) > width:
                setattr(row, column.key, value[:width])


def _tuple_or_none(values: list | None) -> tuple | None:
    """An empty list is a list (every fulfillment removed), not "not said"."""
    return None if values is None else tuple(values)


def _list_or_none(values: tuple | None) -> list | None:
    return None if values is None else list(values)
