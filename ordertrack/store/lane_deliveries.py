"""The queries over `lane_deliveries` (store/estimate_models.py): finding the deliveries the
estimates job has not judged yet, writing them judged, and the narrow reads the job and the
estimates report make. Each read is one index range: bounded by a carrier, a period or a
limit, never by the size of the shop."""

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from ordertrack import lanes
from ordertrack.statuses import ShipmentStatus
from ordertrack.store import estimates
from ordertrack.store.estimate_models import LaneDelivery, RollupMark
from ordertrack.store.inbox import insert_ignoring_duplicates
from ordertrack.store.models import History, Order, Shipment

#: The mark of the history rows the estimates job has read.
MARK = "lane_deliveries"


def mark(session: Session) -> int:
    return session.scalar(select(RollupMark.position).where(RollupMark.name == MARK)) or 0


def set_mark(session: Session, position: int) -> None:
    row = session.get(RollupMark, MARK)
    if row is None:
        session.add(RollupMark(name=MARK, position=position))
    else:
        row.position = position


def delivered_facts(session: Session, after: int, limit: int) -> list[tuple[int, int, str]]:
    """(history id, order id, shipment key) of the next `limit` deliveries reported after the
    history row `after`, in the order they were stored: the primary key's range."""
    query = (
        select(History.id, History.order_id, History.shipment_key)
        .where(
            History.id > after,
            History.kind == "tracking",
            History.status == ShipmentStatus.DELIVERED.value,
        )
        .order_by(History.id)
        .limit(limit)
    )
    return [(i, order_id, key) for i, order_id, key in session.execute(query)]


def parcels_to_judge(
    session: Session, facts: Iterable[tuple[int, int, str]]
) -> list[tuple[int, lanes.Past]]:
    """(shipment id, the parcel) for the facts' parcels that are delivered now, have a carrier
    and a first scan before the delivery, and were not judged before."""
    keys = {(order_id, key) for _, order_id, key in facts if key}
    if not keys:
        return []
    order_ids = sorted({order_id for order_id, _ in keys})
    query = (
        select(
            Shipment.id,
            Shipment.order_id,
            Shipment.key,
            func.lower(Shipment.carrier),
            Shipment.status_at,
            Order.country_code,
            Order.province_code,
            Order.postcode,
            estimates.first_scan_of(Shipment.order_id, Shipment.key),
        )
        .join(Order, Order.id == Shipment.order_id)
        .outerjoin(LaneDelivery, LaneDelivery.shipment_id == Shipment.id)
        .where(
            Shipment.order_id.in_(order_ids),
            Shipment.status == ShipmentStatus.DELIVERED.value,
            Shipment.carrier.is_not(None),
            Shipment.cancelled.is_(False),
            Shipment.removed.is_(False),
            LaneDelivery.shipment_id.is_(None),
        )
    )
    return [
        (shipment_id, lanes.Past(carrier, lanes.Lane.of(country, region, postcode), scan, at))
        for shipment_id, order_id, key, carrier, at, country, region, postcode, scan in (
            session.execute(query)
        )
        if (order_id, key) in keys and carrier and at is not None and scan is not None and scan < at
    ]


def write(session: Session, rows: list[tuple[int, lanes.Past, int, bool | None]]) -> None:
    """(shipment id, parcel, transit days, on time) as judged; a parcel judged already (a
    second "delivered" for it) is left as it was."""
    if not rows:
        return
    values = [
        {
            "shipment_id": shipment_id,
            "carrier": parcel.carrier,
            "country": parcel.lane.country,
            "region": parcel.lane.region,
            "prefix": parcel.lane.prefix,
            "first_scan_at": parcel.first_scan,
            "delivered_at": parcel.delivered_at,
            "transit_days": days,
            "on_time": on_time,
        }
        for shipment_id, parcel, days, on_time in rows
    ]
    connection = session.connection()
    connection.execute(insert_ignoring_duplicates(connection, LaneDelivery.__table__), values)


def newest(
    session: Session, carrier: str, since: datetime, until: datetime, limit: int | None
) -> list[lanes.Past]:
    """The carrier's judged deliveries in [since, until), newest first (ix_lane_deliveries_
    carrier), with their business days in transit."""
    query = (
        select(
            LaneDelivery.country,
            LaneDelivery.region,
            LaneDelivery.prefix,
            LaneDelivery.first_scan_at,
            LaneDelivery.delivered_at,
            LaneDelivery.transit_days,
        )
        .where(
            LaneDelivery.carrier == carrier,
            LaneDelivery.delivered_at >= since,
            LaneDelivery.delivered_at < until,
        )
        .order_by(LaneDelivery.delivered_at.desc())
        .limit(limit)
    )
    return [
        lanes.Past(carrier, lanes.Lane(country, region, prefix), scan, at, days)
        for country, region, prefix, scan, at, days in session.execute(query)
    ]


def carriers(session: Session) -> list[str]:
    """The carriers with judged deliveries: the next name after each from the (carrier,
    delivered_at) index, so a few look-ups however many deliveries there are."""
    first = select(func.min(LaneDelivery.carrier).label("name")).cte("carriers", recursive=True)
    following = select(
        select(func.min(LaneDelivery.carrier))
        .where(LaneDelivery.carrier > first.c.name)
        .scalar_subquery()
    )
    names = first.union_all(following.where(first.c.name.is_not(None)))
    return [name for name in session.scalars(select(names.c.name)) if name]


def outcomes(session: Session, since: datetime, until: datetime) -> dict[str, tuple[int, int]]:
    """carrier -> (on time, judged) for the deliveries of [since, until): one grouped pass
    over the (delivered_at, carrier, on_time) index."""
    judged = LaneDelivery.on_time.is_not(None)
    query = (
        select(
            LaneDelivery.carrier,
            func.count().filter(LaneDelivery.on_time.is_(True)),
            func.count().filter(judged),
        )
        .where(and_(LaneDelivery.delivered_at >= since, LaneDelivery.delivered_at < until))
        .group_by(LaneDelivery.carrier)
    )
    return {carrier: (good, total) for carrier, good, total in session.execute(query) if total}
