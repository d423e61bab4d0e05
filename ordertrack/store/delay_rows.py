"""What the delay check reads of the orders it evaluates, and how it locks the few it changes.

`read` takes a batch without locks, as plain column rows made into the lifecycle's states,
with the milestones kept on the rows (store/milestones.py) instead of the history: most
orders checked have nothing to change, and locking each one (a write on PostgreSQL) cost
more than reading it. `hold` then locks only the orders that have a flag to open or clear,
skipping any another transaction holds (a worker applying an event to it: that event
re-checks it), and says which changed since they were read (their last change or their
placing moved), so the check evaluates those again under the lock before writing.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import BigInteger, any_, bindparam, cast, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from ordertrack.facts import Customer
from ordertrack.lifecycle.state import OrderState, ShipmentState
from ordertrack.statuses import OrderStatus, ShipmentStatus
from ordertrack.store.models import Order, Shipment


class Candidate(NamedTuple):
    """An order as the rules need it: its state (status and parcels; no customer, no
    items), when it was placed, where it goes (its lane), each parcel's first scan, and what
    says whether it changed since (`version`)."""

    id: int
    version: tuple
    placed_at: datetime
    country_code: str | None
    province_code: str | None
    postcode: str | None
    state: OrderState
    first_scans: dict[tuple[int, str], datetime]


@dataclass(frozen=True)
class Held:
    """A locked order, as the news of its flags needs it: who it is and who to tell."""

    platform: str
    external_id: str
    name: str | None
    customer: Customer


_ORDER_COLUMNS = (
    Order.id,
    Order.status,
    Order.updated_at,
    Order.placed_at,
    Order.created_at,
    Order.country_code,
    Order.province_code,
    Order.postcode,
)
_SHIPMENT_COLUMNS = (
    Shipment.order_id,
    Shipment.key,
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
_HELD_COLUMNS = (
    Order.id,
    Order.updated_at,
    Order.placed_at,
    Order.platform,
    Order.external_id,
    Order.name,
    Order.email,
    Order.phone,
    Order.customer_name,
    Order.sms_consent,
    Order.locale,
    Order.country_code,
    Order.province_code,
    Order.postcode,
)


def read(session: Session, ids: Sequence[int]) -> list[Candidate]:
    """These orders with their parcels, by id, unlocked. Plain rows (no ORM objects), read
    by position: the check reads hundreds of thousands."""
    if not ids:
        return []
    connection = session.connection()
    query = select(*_ORDER_COLUMNS).where(among(session, Order.id, ids)).order_by(Order.id)
    orders = connection.execute(query).all()
    parcels: dict[int, list[tuple[ShipmentState, datetime | None]]] = {r[0]: [] for r in orders}
    if parcels:
        query = (
            select(*_SHIPMENT_COLUMNS)
            .where(among(session, Shipment.order_id, list(parcels)))
            .order_by(Shipment.order_id, Shipment.id)
        )
        for row in connection.execute(query).all():  # fetched at once, not row by row
            parcels[row[0]].append(_parcel(row))
    return [_candidate(row, parcels[row[0]]) for row in orders]


def hold(session: Session, versions: Mapping[int, tuple]) -> tuple[dict[int, Held], list[int]]:
    """Lock these orders (order id -> the version read), skipping those another transaction
    holds. Returns the locked ones still as read, and the ids of those locked that changed
    since (to read and evaluate again, now that they are held)."""
    if not versions:
        return {}, []
    query = (
        select(*_HELD_COLUMNS)
        .where(among(session, Order.id, list(versions)))
        .order_by(Order.id)
        .with_for_update(skip_locked=True)
    )
    held, moved = {}, []
    for row in session.connection().execute(query).all():
        (order_id, updated_at, placed_at, platform, external_id, name) = row[:6]
        if versions[order_id] != (updated_at, placed_at):
            moved.append(order_id)
            continue
        held[order_id] = Held(platform, external_id, name, Customer(*row[6:]))
    return held, moved


def among(session: Session, column, ids: Sequence[int]):
    """`column IN ids`, for thousands of ids: on PostgreSQL one array parameter (`= ANY`),
    which the driver sends as is, rather than a placeholder per id to parse every time."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(
            cast(bindparam("ids", list(ids), type_=ARRAY(BigInteger)), ARRAY(BigInteger))
        )
    return column.in_(list(ids))


_ORDER_STATUS = {s.value: s for s in OrderStatus}
_SHIPMENT_STATUS = {s.value: s for s in ShipmentStatus}


def _candidate(row, parcels: list[tuple[ShipmentState, datetime | None]]) -> Candidate:
    (order_id, status, updated_at, placed_at, created_at, country, province, postcode) = row
    state = OrderState(
        status=_ORDER_STATUS[status], shipments=tuple(parcel for parcel, _ in parcels)
    )
    scans = {(order_id, parcel.key): at for parcel, at in parcels if at is not None}
    return Candidate(
        order_id,
        (updated_at, placed_at),
        placed_at or created_at,
        country,
        province,
        postcode,
        state,
        scans,
    )


def _parcel(row) -> tuple[ShipmentState, datetime | None]:
    """The parcel's state, and its first carrier scan."""
    (_, key, carrier, number, status, status_at, detail, estimate) = row[:8]
    (fulfilled_at, labelled_at, reported, cancelled, removed, relabels, first_scan) = row[8:]
    state = ShipmentState(
        key=key,
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
    return state, first_scan
