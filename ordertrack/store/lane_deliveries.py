"""The queries over `lane_deliveries` (store/estimate_models.py): the next deliveries the
estimates job has not judged (after its cursor, in the order they were delivered), writing
them judged, and the narrow reads the job and the estimates report make. Each read is one
index range: bounded by a carrier, a period or a limit, never by the size of the shop."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ordertrack import lanes
from ordertrack.statuses import ShipmentStatus
from ordertrack.store import estimates
from ordertrack.store.estimate_models import EstimateDay, LaneDelivery, RollupMark
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
    session.execute(delete(EstimateDay))
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
        .outerjoin(LaneDelivery, LaneDelivery.shipment_id == Shipment.id)
        .where(
            Shipment.status == ShipmentStatus.DELIVERED.value,
            Shipment.status_at < until,
            Shipment.cancelled.is_(False),
            Shipment.removed.is_(False),
            # Judged already: its delivery was reported again, later.
            LaneDelivery.shipment_id.is_(None),
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
    _count_days(connection, rows)


def _count_days(connection, rows) -> None:
    """Add the judged ones to their day's counts (estimate_days)."""
    days: dict[tuple, list[int]] = {}
    for _, parcel, _, on_time in rows:
        if on_time is not None:
            key = (parcel.delivered_at.astimezone(UTC).date(), parcel.carrier)
            counts = days.setdefault(key, [0, 0])
            counts[0] += on_time
            counts[1] += 1
    if not days:
        return
    table = EstimateDay.__table__
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(table)
    statement = insert.on_conflict_do_update(
        index_elements=[table.c.day, table.c.carrier],
        set_={
            "on_time": table.c.on_time + insert.excluded.on_time,
            "judged": table.c.judged + insert.excluded.judged,
        },
    )
    values = [
        {"day": day, "carrier": carrier, "on_time": good, "judged": total}
        for (day, carrier), (good, total) in days.items()
    ]
    connection.execute(statement, values)


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


def lane_days(
    session: Session, carrier: str, since: datetime, until: datetime, limit: int
) -> list[tuple[lanes.Lane, int, int]]:
    """(lane, business days, how many) over the carrier's newest `limit` judged deliveries in
    [since, until): the newest read from the (carrier, delivered_at) index and counted in
    SQL, so a few hundred small rows come back, not `limit` wide ones."""
    newest = (
        select(
            LaneDelivery.country,
            LaneDelivery.region,
            LaneDelivery.prefix,
            LaneDelivery.transit_days,
        )
        .where(
            LaneDelivery.carrier == carrier,
            LaneDelivery.delivered_at >= since,
            LaneDelivery.delivered_at < until,
        )
        .order_by(LaneDelivery.delivered_at.desc())
        .limit(limit)
        .subquery()
    )
    columns = (newest.c.country, newest.c.region, newest.c.prefix, newest.c.transit_days)
    query = select(*columns, func.count()).group_by(*columns)
    return [
        (lanes.Lane(country, region, prefix), days, count)
        for country, region, prefix, days, count in session.execute(query)
    ]


def outcomes(session: Session, since: datetime, until: datetime) -> dict[str, tuple[int, int]]:
    """carrier -> (on time, judged) for the deliveries of the UTC days from `since` to the
    day before `until` at midnight (whole days, as the other reports count)."""
    first = since.astimezone(UTC).date()
    last = (until.astimezone(UTC) - timedelta(microseconds=1)).date()
    query = (
        select(EstimateDay.carrier, func.sum(EstimateDay.on_time), func.sum(EstimateDay.judged))
        .where(EstimateDay.day >= first, EstimateDay.day <= last)
        .group_by(EstimateDay.carrier)
    )
    return {
        carrier: (int(good), int(total)) for carrier, good, total in session.execute(query) if total
    }
