"""The queries over `lane_deliveries` (store/estimate_models.py): the next deliveries the
estimates job has not judged (after its cursor, in the order they were delivered), writing
them judged, and the narrow reads the job and the estimates report make. Each read is one
index range: bounded by a carrier, a period or a limit, never by the size of the shop."""

from datetime import datetime

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session

from ordertrack import lanes
from ordertrack.statuses import ShipmentStatus
from ordertrack.store import estimates
from ordertrack.store.estimate_models import LaneDelivery, RollupMark
from ordertrack.store.inbox import insert_ignoring_duplicates
from ordertrack.store.models import Order, Shipment

#: The estimates job's mark: the last delivery it judged.
MARK = "lane_deliveries"

Cursor = tuple[datetime, int]


def cursor(session: Session) -> Cursor | None:
    row = session.get(RollupMark, MARK)
    return (row.at, row.position) if row is not None else None


def set_cursor(session: Session, at: datetime, shipment_id: int) -> None:
    row = session.get(RollupMark, MARK)
    if row is None:
        session.add(RollupMark(name=MARK, at=at, position=shipment_id))
    else:
        row.at, row.position = at, shipment_id


def forget(session: Session) -> None:
    session.execute(delete(LaneDelivery))
    session.execute(delete(RollupMark).where(RollupMark.name == MARK))


def next_deliveries(
    session: Session, after: Cursor | None, until: datetime, limit: int
) -> list[tuple[int, datetime, lanes.Past | None]]:
    """The next `limit` parcels delivered after the cursor and before `until`, in the order
    they were delivered (the (status, status_at) index): (shipment id, when, the parcel, or
    None when it cannot teach: no carrier, no first scan before the delivery)."""
    query = (
        select(
            Shipment.id,
            Shipment.status_at,
            func.lower(Shipment.carrier),
            Order.country_code,
            Order.province_code,
            Order.postcode,
            estimates.first_scan_of(Shipment.order_id, Shipment.key),
        )
        .join(Order, Order.id == Shipment.order_id)
        .where(
            Shipment.status == ShipmentStatus.DELIVERED.value,
            Shipment.status_at < until,
            Shipment.cancelled.is_(False),
            Shipment.removed.is_(False),
        )
        .order_by(Shipment.status_at, Shipment.id)
        .limit(limit)
    )
    if after is not None:
        at, shipment_id = after
        later = or_(
            Shipment.status_at > at, and_(Shipment.status_at == at, Shipment.id > shipment_id)
        )
        query = query.where(Shipment.status_at >= at, later)
    found = []
    for shipment_id, at, carrier, country, region, postcode, scan in session.execute(query):
        teaches = carrier and scan is not None and scan < at
        lane = lanes.Lane.of(country, region, postcode)
        found.append((shipment_id, at, lanes.Past(carrier, lane, scan, at) if teaches else None))
    return found


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
