"""Orders and shipments as rows, and the lifecycle's OrderState as the bridge between them."""

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select, text, tuple_
from sqlalchemy.orm import Session, joinedload, selectinload

from ordertrack.facts import Customer, LineItem, ShipmentRef
from ordertrack.lifecycle.matching import best_claim
from ordertrack.lifecycle.state import OrderState, ShipmentState
from ordertrack.statuses import OrderStatus, ShipmentStatus
from ordertrack.store.flag_models import DelayFlag
from ordertrack.store.inbox import insert_ignoring_duplicates
from ordertrack.store.models import Order, Shipment


def lock_or_create(session: Session, platform: str, external_id: str) -> Order:
    """The order row, locked for this transaction (PostgreSQL), created if it is new. Every
    change to one order goes through this lock, so concurrent workers never interleave."""
    held = _held(session).get((platform, external_id))
    if held is not None:
        return held
    order = _locked(session, Order.platform == platform, Order.external_id == external_id)
    if order is not None:
        return order
    _insert_missing(session, [(platform, external_id)])
    return _locked(session, Order.platform == platform, Order.external_id == external_id)


def lock_many(session: Session, named: set[tuple[str, str]]) -> None:
    """Lock these orders (platform, order id) for this transaction in one go, creating those
    that are new. Taken in id order, so two transactions that lock several
    orders each never wait on each other; the orders are then held (`_held`), and
    `lock_or_create` and `lock_order` find them without another statement."""
    if not named:
        return
    _insert_missing(session, sorted(named))
    query = (
        select(Order)
        .where(tuple_(Order.platform, Order.external_id).in_(sorted(named)))
        .order_by(Order.id)
        .options(selectinload(Order.shipments))
        .with_for_update(of=Order)
        .execution_options(populate_existing=True)
    )
    locked = list(session.scalars(query))
    for order in locked:
        _hold(session, order)
    _note_unflagged(session, [order.id for order in locked])


def _note_unflagged(session: Session, order_ids: list[int]) -> None:
    """Which of these held orders have no open delay flag: with the order locked, only this
    transaction could change that (the delay check locks an order before it opens a flag),
    and the pipeline only ever clears flags, so there is then nothing to recheck."""
    flagged = select(DelayFlag.order_id).where(
        DelayFlag.order_id.in_(order_ids), DelayFlag.cleared_at.is_(None)
    )
    _holdings(session).unflagged |= set(order_ids) - set(session.scalars(flagged))


def holds_without_flags(session: Session, order_id: int) -> bool:
    """True when this transaction holds the order and knows it has no open delay flag."""
    return order_id in _holdings(session).unflagged


def _insert_missing(session: Session, keys: list[tuple[str, str]]) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "platform": platform,
            "external_id": external_id,
            "platform_status": OrderStatus.RECEIVED.value,
            "status": OrderStatus.RECEIVED.value,
            "furthest_stage": 0,
            "items": [],
            "created_at": now,
            "updated_at": now,
        }
        for platform, external_id in keys
    ]
    session.execute(insert_ignoring_duplicates(session.connection(), Order.__table__), rows)


def load_order(session: Session, order_id: int) -> Order:
    """An order with its shipments, in one query, unlocked (for reading: each notification
    sent reads one)."""
    query = select(Order).where(Order.id == order_id).options(joinedload(Order.shipments))
    return session.scalars(query).unique().one()


def lock_order(session: Session, order_id: int) -> Order:
    """An order with its shipments, locked for this transaction (PostgreSQL)."""
    return _held(session).get(order_id) or _locked(session, Order.id == order_id)


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
    order = session.scalars(query).first()
    if order is not None:
        _hold(session, order)
    return order


@dataclass
class _Holdings:
    """What this transaction has locked: orders by (platform, id) and by row id, and the
    tracking numbers' advisory locks."""

    transaction: object
    orders: dict = field(default_factory=dict)
    numbers: set[str] = field(default_factory=set)
    #: Held orders known to have no open delay flag (`lock_many`).
    unflagged: set[int] = field(default_factory=set)


#: session.info key of the current transaction's _Holdings.
_HELD = "ordertrack.held"


def _holdings(session: Session) -> _Holdings:
    """Once locked, an order changes only through this session's own objects (nothing in a
    transaction updates orders by statement), so the object is what the row is, and locking
    and reading it again would only cost statements. Kept per transaction: a new one starts
    with nothing held."""
    held = session.info.get(_HELD)
    if held is None or held.transaction is not session.get_transaction():
        held = session.info[_HELD] = _Holdings(session.get_transaction())
    return held


def _held(session: Session) -> dict:
    return _holdings(session).orders


def _hold(session: Session, order: Order) -> None:
    held = _held(session)
    held[(order.platform, order.external_id)] = held[order.id] = order


def lock_tracking_numbers(session: Session, numbers: set[str]) -> None:
    """Serialize every transaction that parks, unparks or attaches these tracking numbers.
    Without it a carrier event could park itself just after the fulfillment that names its
    number looked for parked events, and wait for the sweeper. Taken before any order lock,
    in sorted order, so two transactions never wait on each other. (SQLite already writes
    one transaction at a time.)"""
    if not numbers or session.get_bind().dialect.name != "postgresql":
        return
    held = _holdings(session).numbers
    if numbers <= held:
        return
    session.execute(
        text(
            "SELECT pg_advisory_xact_lock(hashtextextended(n, 0))"
            " FROM unnest(CAST(:numbers AS text[])) AS n ORDER BY n"
        ),
        {"numbers": sorted(numbers - held)},
    )
    held |= numbers


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
    return lock_order(session, found.order_id) if found else None


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
