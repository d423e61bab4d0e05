"""The orders the delay check evaluates, and what it reads of them.

Most open orders are not late, and evaluating each in Python is what made the check slow.
So `order_ids` narrows in one set-based statement, from the cutoffs delays.cutoffs computed
once per check: the orders with a parcel or a start that may be past its deadline, and the
orders that hold an open flag (it may have to clear). The rules in delays.py then decide for
each of them; the SQL never decides, it only leaves out orders the rules cannot flag.

`lock_and_load` reads a batch of them, locked (an order a worker is applying an event to is
skipped: that event re-checks it), as plain column rows made into the lifecycle's states,
with the milestones kept on the rows (store/milestones.py) instead of the history.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, and_, any_, bindparam, cast, func, or_, select, union
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from ordertrack.delays import Cutoffs
from ordertrack.facts import Customer
from ordertrack.lifecycle import OrderState, ShipmentState
from ordertrack.statuses import OrderStatus, ShipmentStatus
from ordertrack.store.flag_models import DelayFlag
from ordertrack.store.models import Order, Shipment

_S = ShipmentStatus
#: A parcel whose journey is over: it can be late for nothing.
_ARRIVED = [s.value for s in (_S.DELIVERED, _S.RETURNED, _S.CANCELLED)]
#: Orders that can be late for not shipping.
_UNSHIPPED = [OrderStatus.RECEIVED.value, OrderStatus.PROCESSING.value]


@dataclass(frozen=True)
class Candidate:
    """An order as the check needs it: who it is, where it goes, when it was placed, its
    state (status, customer and parcels; not its items), and each parcel's first scan."""

    id: int
    platform: str
    external_id: str
    name: str | None
    country_code: str | None
    province_code: str | None
    postcode: str | None
    placed_at: datetime
    state: OrderState
    first_scans: dict[tuple[int, str], datetime]


def order_ids(session: Session, limits: Cutoffs) -> list[int]:
    """Every order that may need a flag now, or holds one, by id (one statement)."""
    s = Shipment
    under_way = s.status.not_in(_ARRIVED)
    late = [
        and_(
            s.status == _S.LABEL_CREATED.value,
            s.tracking_number.is_not(None),
            func.coalesce(s.labelled_at, s.fulfilled_at) < limits.labelled,
        ),
        and_(s.status == _S.IN_TRANSIT.value, s.status_at < limits.moved),
        and_(
            s.status.in_([_S.EXCEPTION.value, _S.DELIVERY_FAILED.value]),
            s.status_at < limits.stuck,
        ),
        and_(s.status == _S.AVAILABLE_FOR_PICKUP.value, s.status_at <= limits.pickup),
        and_(under_way, s.est_delivery < limits.estimate_day),
    ]
    if limits.scanned is not None:
        late.append(
            and_(
                under_way,
                s.est_delivery.is_(None),
                s.carrier.is_not(None),
                s.first_scan_at < limits.scanned,
            )
        )
    parcels = select(s.order_id).where(s.cancelled.is_(False), s.removed.is_(False), or_(*late))
    unshipped = select(Order.id).where(
        Order.status.in_(_UNSHIPPED),
        func.coalesce(Order.placed_at, Order.created_at) < limits.placed,
    )
    flagged = select(DelayFlag.order_id).where(DelayFlag.cleared_at.is_(None))
    return sorted(session.scalars(union(parcels, unshipped, flagged)))


_ORDER_COLUMNS = (
    Order.id,
    Order.platform,
    Order.external_id,
    Order.name,
    Order.status,
    Order.placed_at,
    Order.created_at,
    Order.email,
    Order.phone,
    Order.customer_name,
    Order.sms_consent,
    Order.locale,
    Order.country_code,
    Order.province_code,
    Order.postcode,
)
_SHIPMENT_COLUMNS = (
    Shipment.order_id,
    Shipment.key,
    Shipment.fulfillment_id,
    Shipment.carrier,
    Shipment.tracking_number,
    Shipment.status,
    Shipment.status_at,
    Shipment.detail,
    Shipment.est_delivery,
    Shipment.fulfilled_at,
    Shipment.labelled_at,
    Shipment.reported_carrier,
    Shipment.cancelled,
    Shipment.removed,
    Shipment.relabels,
    Shipment.first_scan_at,
)


def among(session: Session, column, ids: Sequence[int]):
    """`column IN ids`, for thousands of ids: on PostgreSQL one array parameter (`= ANY`),
    which the driver sends as is, rather than a placeholder per id to parse every time."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(
            cast(bindparam("ids", list(ids), type_=ARRAY(BigInteger)), ARRAY(BigInteger))
        )
    return column.in_(list(ids))


def lock_and_load(session: Session, ids: Sequence[int]) -> list[Candidate]:
    """These orders, locked for the transaction, skipping those another holds; their
    parcels read after the lock is ours (so none a worker just added is missed). Plain rows
    (no ORM objects), read by position: the check reads hundreds of thousands."""
    if not ids:
        return []
    connection = session.connection()
    query = (
        select(*_ORDER_COLUMNS)
        .where(among(session, Order.id, ids))
        .order_by(Order.id)
        .with_for_update(skip_locked=True)
    )
    orders = connection.execute(query).all()
    parcels: dict[int, list[tuple[ShipmentState, datetime | None]]] = {r[0]: [] for r in orders}
    if parcels:
        query = (
            select(*_SHIPMENT_COLUMNS)
            .where(among(session, Shipment.order_id, list(parcels)))
            .order_by(Shipment.order_id, Shipment.id)
        )
        for row in connection.execute(query):
            parcels[row[0]].append(_parcel(row))
    return [_candidate(row, parcels[row[0]]) for row in orders]


_ORDER_STATUS = {s.value: s for s in OrderStatus}
_SHIPMENT_STATUS = {s.value: s for s in ShipmentStatus}


def _candidate(row, parcels: list[tuple[ShipmentState, datetime | None]]) -> Candidate:
    (order_id, platform, external_id, name, status, placed_at, created_at, email, phone) = row[:9]
    (customer_name, sms_consent, locale, country, province, postcode) = row[9:]
    customer = Customer(
        email, phone, customer_name, sms_consent, locale, country, province, postcode
    )
    state = OrderState(
        status=_ORDER_STATUS[status],
        name=name,
        customer=customer,
        shipments=tuple(parcel for parcel, _ in parcels),
    )
    scans = {(order_id, parcel.key): at for parcel, at in parcels if at is not None}
    return Candidate(
        order_id,
        platform,
        external_id,
        name,
        country,
        province,
        postcode,
        placed_at or created_at,
        state,
        scans,
    )


def _parcel(row) -> tuple[ShipmentState, datetime | None]:
    """The parcel's state, and its first carrier scan."""
    (_, key, fulfillment_id, carrier, number, status, status_at, detail) = row[:8]
    (estimate, fulfilled_at, labelled_at, reported, cancelled, removed, relabels) = row[8:15]
    state = ShipmentState(
        key=key,
        fulfillment_id=fulfillment_id,
        carrier=carrier,
        tracking_number=number,
        status=_SHIPMENT_STATUS[status],
        status_at=status_at,
        detail=detail,
        est_delivery=estimate,
        fulfilled_at=fulfilled_at,
        labelled_at=labelled_at,
        reported_carrier=reported,
        cancelled=cancelled,
        removed=removed,
        relabels=relabels or 0,
    )
    return state, row[15]
