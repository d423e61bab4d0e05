"""The performance reports' daily rollups, kept as events apply.

Why: a report over eight weeks of a million-order shop would read 130,000 orders and their
parcels per request; the rollups hold a few rows per day instead (store/rollup_models.py).

How they stay right: an order's *contribution* to every rollup is a pure function of its row
and its parcels' rows (`contributions`). The pipeline takes it before and after applying an
event to the locked order, and adds the difference (`apply_change`): a status that moved
subtracts one from the old status and adds one to the new; a milestone that moved takes its
duration out of one bucket and puts it in another. Rebuilding from the rows gives the same
numbers (`rebuild`; migration 0013 and `ordertrack reports rebuild` use it), and a test holds
the two to each other.

Percentiles come from histograms: a duration falls in the bucket ceil(log_g(x)) with
g = (1 + ACCURACY) / (1 - ACCURACY), as DDSketch does, and each bucket keeps the sum of its
values; durations of three minutes or less share one bucket. A percentile is read as
percentile_cont would (linear between the two ranks around it), taking each rank's value as
its bucket's mean: exact where a bucket's values are equal, otherwise within 2 x ACCURACY
(4%) of the true value, or three minutes for the shortest.
"""

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Row, event, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, SessionTransaction

from ordertrack.store.models import Order, Shipment
from ordertrack.store.rollup_models import (
    TABLES,
    OrderDay,
    ParcelDay,
    ProductDay,
    StageBucket,
    TransitBucket,
)

#: The relative accuracy of a percentile read from a histogram.
ACCURACY = 0.02
_LOG_GAMMA = math.log((1 + ACCURACY) / (1 - ACCURACY))
#: The bucket of a zero duration (a log has none) and of any up to SHORTEST.
ZERO = -(2**31)
#: Three minutes, in hours (stages) and in days (transit).
SHORTEST_HOURS = 0.05
SHORTEST_DAYS = SHORTEST_HOURS / 24
#: The stages, each as (start, end) milestones of the order.
STAGE_SPANS = {
    "warehouse": ("placed", "shipped_at"),
    "pickup": ("shipped_at", "first_scan_at"),
    "transit": ("first_scan_at", "delivered_at"),
    "order_to_delivered": ("placed", "delivered_at"),
}
TITLE_WIDTH = 200

#: (table, key) -> the values it adds, in the order of the table's value columns.
Contribution = dict[tuple[type, tuple], tuple[float, ...]]
_VALUES = {
    OrderDay: ("orders",),
    StageBucket: ("orders", "hours"),
    ParcelDay: ("parcels", "delivered", "estimated", "on_time", "first_attempt", "exceptions"),
    TransitBucket: ("parcels", "days"),
    ProductDay: ("ordered",),
}


def bucket(value: float, shortest: float = 0.0) -> int:
    """The histogram bucket of a duration: ceil(log_g(value)), or ZERO up to `shortest`."""
    return ZERO if value <= shortest else math.ceil(math.log(value) / _LOG_GAMMA)


def _span(start: datetime | None, end: datetime | None, unit_seconds: float) -> float | None:
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds() / unit_seconds


def contributions(order, parcels: Iterable) -> Contribution:
    """What one order adds to the rollups. `order` and `parcels` are rows (ORM objects or
    selected rows) with the columns read below. An order counts once the pipeline has
    applied an event to it (placed_at set): a row just inserted has added nothing yet."""
    if order.placed_at is None:
        return {}
    day = order.created_at.astimezone(UTC).date()
    found: dict[tuple[type, tuple], list[float]] = {}

    def add(table: type, key: tuple, *values: float) -> None:
        cell = found.setdefault((table, key), [0] * len(values))
        for i, value in enumerate(values):
            cell[i] += value

    add(OrderDay, (day, order.status), 1)
    times = {
        "placed": min(order.placed_at, order.created_at),
        "shipped_at": order.shipped_at,
        "first_scan_at": order.first_scan_at,
        "delivered_at": order.delivered_at,
    }
    for stage, (start, end) in STAGE_SPANS.items():
        hours = _span(times[start], times[end], 3600)
        if hours is not None:
            add(StageBucket, (day, stage, bucket(hours, SHORTEST_HOURS)), 1, hours)
    for item in order.items or ():
        if item.get("title") and item.get("quantity"):
            add(ProductDay, (day, str(item["title"])[:TITLE_WIDTH]), int(item["quantity"]))
    lane = ((order.country_code or "")[:2], (order.province_code or "")[:8])
    for parcel in parcels:
        if not parcel.cancelled:
            _parcel(add, day, lane, parcel)
    return {key: tuple(values) for key, values in found.items()}


def carrier_name(carrier: str | None, reported: str | None) -> str:
    return (carrier or reported or "unknown").lower()[:64]


def _parcel(add, day: date, lane: tuple[str, str], parcel) -> None:
    where = (day, carrier_name(parcel.carrier, parcel.reported_carrier), *lane)
    delivered, estimate = parcel.delivered_at, parcel.est_delivery
    failed = parcel.first_failed_at
    add(
        ParcelDay,
        where,
        1,
        int(delivered is not None),
        int(delivered is not None and estimate is not None),
        int(delivered is not None and estimate is not None and delivered.date() <= estimate),
        int(delivered is not None and (failed is None or failed > delivered)),
        int(parcel.first_exception_at is not None),
    )
    days = _span(parcel.first_scan_at, delivered, 86400)
    if days is not None:
        add(TransitBucket, (*where, bucket(days, SHORTEST_DAYS)), 1, days)


def of_order(order: Order) -> Contribution:
    return contributions(order, order.shipments)


def changes(before: Contribution, after: Contribution) -> dict[type, list[tuple[tuple, tuple]]]:
    """after - before, per table, keys in order, without the keys that did not move."""
    found: dict[type, list[tuple[tuple, tuple]]] = defaultdict(list)
    for key in sorted(before.keys() | after.keys(), key=lambda k: (k[0].__tablename__, k[1])):
        old, new = before.get(key), after.get(key)
        width = len(_VALUES[key[0]])
        delta = tuple((new or (0,) * width)[i] - (old or (0,) * width)[i] for i in range(width))
        if any(delta):
            found[key[0]].append((key[1], delta))
    return found


def apply_change(session: Session, before: Contribution, after: Contribution) -> None:
    """Add after - before to the rollups now: one statement per table, keys in order (two
    transactions that touch the same rows lock them in the same order)."""
    found = changes(before, after)
    for table in TABLES:
        if found[table]:
            _add(session, table, found[table])


def add_at_commit(session: Session, before: Contribution, after: Contribution) -> None:
    """Add after - before to the rollups when the transaction commits (see `Tally`)."""
    for table, rows in changes(before, after).items():
        Tally.of(session).add(table, _VALUES[table], rows)


class Tally:
    """Counts a transaction adds to shared rows, written as its last statements.

    Why: every event of a day adds to the same few rows (today's orders by status, today's
    flags by kind). A row's lock is held from its update to the commit, so an update early in
    a transaction makes every other worker wait for the rest of that transaction: measured,
    that serialized the workers (bench.worker, pg_stat_activity waiting on
    report_order_days). Written just before the commit, in key order, a lock is held for the
    commit alone, and the counts of several events in one transaction are summed first.

    It lives in `session.info` and is written by a `before_commit` hook on every Session, so
    no path can forget it; the outermost transaction's end (commit or rollback) drops it. A
    caller that rolls back a savepoint restores what it saved with `saved`/`restore`."""

    KEY = "ordertrack.tally"

    def __init__(self) -> None:
        self.counts: dict[tuple[type, tuple[str, ...]], dict[tuple, list[float]]] = {}

    @classmethod
    def of(cls, session: Session) -> "Tally":
        _listen()
        tally = session.info.get(cls.KEY)
        if tally is None:
            tally = session.info[cls.KEY] = cls()
        return tally

    def add(self, table: type, values: Sequence[str], rows: list[tuple[tuple, tuple]]) -> None:
        cells = self.counts.setdefault((table, tuple(values)), {})
        for key, delta in rows:
            cell = cells.setdefault(key, [0] * len(delta))
            for i, amount in enumerate(delta):
                cell[i] += amount

    def saved(self) -> dict:
        return {kind: {key: list(cell) for key, cell in cells.items()}
                for kind, cells in self.counts.items()}  # fmt: skip

    def restore(self, saved: dict) -> None:
        self.counts = saved

    def write(self, session: Session) -> None:
        counts, self.counts = self.counts, {}
        for (table, values), cells in sorted(counts.items(), key=lambda c: c[0][0].__tablename__):
            rows = [(key, tuple(cell)) for key, cell in sorted(cells.items()) if any(cell)]
            if rows:
                add_counts(session, table, values, rows)


def _write_tally(session: Session) -> None:
    tally = session.info.get(Tally.KEY)
    if tally is not None and not session.in_nested_transaction():
        tally.write(session)


def _drop_tally(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(Tally.KEY, None)


def _listen() -> None:
    """Once per process, on first use: every Session writes its tally before it commits."""
    if not event.contains(Session, "before_commit", _write_tally):
        event.listen(Session, "before_commit", _write_tally)
        event.listen(Session, "after_transaction_end", _drop_tally)


def _add(session: Session, table: type, rows: list[tuple[tuple, tuple]]) -> None:
    add_counts(session, table, _VALUES[table], rows)


def add_counts(
    session: Session, table: type, values: Sequence[str], rows: list[tuple[tuple, tuple]]
) -> None:
    """Add each row's (key, amounts) to `table`'s `values` columns, inserting missing keys:
    one statement. Give the keys sorted, so that two transactions lock them in one order."""
    columns = table.__table__.columns
    keys = [c.key for c in columns if c.primary_key]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table.__table__)
    statement = statement.on_conflict_do_update(
        index_elements=keys,
        set_={name: columns[name] + statement.excluded[name] for name in values},
    )
    session.execute(
        statement,
        [dict(zip(keys, key, strict=True)) | dict(zip(values, delta, strict=True))
         for key, delta in rows],
    )  # fmt: skip


# --- rebuilding from the rows -----------------------------------------------------------

_ORDER_COLUMNS = (
    Order.id, Order.created_at, Order.status, Order.items, Order.country_code,
    Order.province_code, Order.placed_at, Order.shipped_at, Order.first_scan_at,
    Order.delivered_at,
)  # fmt: skip
_PARCEL_COLUMNS = (
    Shipment.order_id, Shipment.carrier, Shipment.reported_carrier, Shipment.cancelled,
    Shipment.est_delivery, Shipment.first_scan_at, Shipment.delivered_at,
    Shipment.first_failed_at, Shipment.first_exception_at,
)  # fmt: skip


def rebuild(session: Session, batch: int = 20_000, progress=None) -> int:
    """Empty the rollups and count every order again; returns the orders counted. On
    PostgreSQL, set-based statements that say what `contributions` says (a test holds the two
    to each other); elsewhere a batch of orders at a time through `contributions` itself
    (keyset by id, columns only), calling `progress(done)` after each batch."""
    for table in TABLES:
        session.execute(table.__table__.delete())
    if session.get_bind().dialect.name == "postgresql":
        for statement in REBUILD_SQL:
            session.execute(text(statement), _BUCKET_PARAMETERS)
        return session.scalar(select(func.count()).where(Order.placed_at.is_not(None))) or 0
    done, after = 0, 0
    while True:
        orders = session.execute(
            select(*_ORDER_COLUMNS).where(Order.id > after).order_by(Order.id).limit(batch)
        ).all()
        if not orders:
            return done
        after = orders[-1].id
        _add_batch(session, orders)
        done += len(orders)
        if progress:
            progress(done)


_DAY = "CAST(o.created_at AT TIME ZONE 'UTC' AS date)"
_BUCKET_PARAMETERS = {
    "log_gamma": _LOG_GAMMA,
    "zero": ZERO,
    "hours": SHORTEST_HOURS,
    "days": SHORTEST_DAYS,
}
_BUCKET = (
    "CASE WHEN {x} <= :{shortest} THEN :zero ELSE CAST(CEIL(LN({x}) / :log_gamma) AS integer) END"
)
_COUNTED = "o.placed_at IS NOT NULL"
_STAGE_VALUES = ", ".join(
    f"('{stage}', CASE WHEN {end} >= {start} THEN date_part('epoch', {end} - {start}) / 3600 END)"
    for stage, (start, end) in STAGE_SPANS.items()
)
_PARCELS = f"""
    SELECT {_DAY} AS day,
        LEFT(LOWER(COALESCE(NULLIF(s.carrier, ''), NULLIF(s.reported_carrier, ''),
                            'unknown')), 64) AS carrier,
        COALESCE(o.country_code, '') AS country, COALESCE(o.province_code, '') AS region,
        s.delivered_at, s.est_delivery, s.first_failed_at, s.first_exception_at,
        CASE WHEN s.delivered_at >= s.first_scan_at
             THEN date_part('epoch', s.delivered_at - s.first_scan_at) / 86400 END AS transit
    FROM shipments AS s JOIN orders AS o ON o.id = s.order_id
    WHERE {_COUNTED} AND NOT s.cancelled
"""  # noqa: S608
#: PostgreSQL's rebuild: each rollup in one INSERT ... SELECT over the rows. Built from
#: constants only; the bucket's constants are bound parameters.
REBUILD_SQL = (
    f"""
    INSERT INTO report_order_days (day, status, orders)
    SELECT {_DAY}, o.status, COUNT(*) FROM orders AS o WHERE {_COUNTED} GROUP BY 1, 2
    """,  # noqa: S608
    f"""
    INSERT INTO report_stage_buckets (day, stage, bucket, orders, hours)
    SELECT day, stage, {_BUCKET.format(x="hours", shortest="hours")}, COUNT(*), SUM(hours)
    FROM (
        SELECT {_DAY} AS day, span.stage, span.hours
        FROM (SELECT created_at, LEAST(placed_at, created_at) AS placed, shipped_at,
                     first_scan_at, delivered_at, placed_at FROM orders) AS o
        CROSS JOIN LATERAL (VALUES {_STAGE_VALUES}) AS span (stage, hours)
        WHERE {_COUNTED} AND span.hours IS NOT NULL
    ) AS t
    GROUP BY 1, 2, 3
    """,  # noqa: S608
    f"""
    INSERT INTO report_parcel_days (day, carrier, country, region, parcels, delivered,
                                    estimated, on_time, first_attempt, exceptions)
    SELECT day, carrier, country, region, COUNT(*), COUNT(delivered_at),
        COUNT(*) FILTER (WHERE delivered_at IS NOT NULL AND est_delivery IS NOT NULL),
        COUNT(*) FILTER (WHERE CAST(delivered_at AT TIME ZONE 'UTC' AS date) <= est_delivery),
        COUNT(*) FILTER (WHERE delivered_at IS NOT NULL
                         AND (first_failed_at IS NULL OR first_failed_at > delivered_at)),
        COUNT(first_exception_at)
    FROM ({_PARCELS}) AS p
    GROUP BY 1, 2, 3, 4
    """,  # noqa: S608
    f"""
    INSERT INTO report_transit_buckets (day, carrier, country, region, bucket, parcels, days)
    SELECT day, carrier, country, region, {_BUCKET.format(x="transit", shortest="days")},
        COUNT(*), SUM(transit)
    FROM ({_PARCELS}) AS p
    WHERE transit IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5
    """,  # noqa: S608
    f"""
    INSERT INTO report_product_days (day, title, ordered)
    SELECT {_DAY}, LEFT(line ->> 'title', {TITLE_WIDTH}),
        SUM(CAST(TRUNC(CAST(line ->> 'quantity' AS numeric)) AS integer))
    FROM orders AS o CROSS JOIN LATERAL json_array_elements(o.items) AS line
    WHERE {_COUNTED} AND COALESCE(line ->> 'title', '') <> ''
        AND COALESCE(CAST(line ->> 'quantity' AS numeric), 0) <> 0
    GROUP BY 1, 2
    """,  # noqa: S608
)


def _add_batch(session: Session, orders: list[Row]) -> None:
    parcels: dict[int, list[Row]] = defaultdict(list)
    query = select(*_PARCEL_COLUMNS).where(Shipment.order_id.between(orders[0].id, orders[-1].id))
    for parcel in session.execute(query):
        parcels[parcel.order_id].append(parcel)
    total: Contribution = {}
    for order in orders:
        for key, values in contributions(order, parcels[order.id]).items():
            kept = total.get(key)
            total[key] = values if kept is None else tuple(map(sum, zip(kept, values, strict=True)))
    apply_change(session, {}, total)


# --- reading ----------------------------------------------------------------------------


def percentiles(histogram: Iterable[tuple[int, int, float]], shares: tuple[float, ...]):
    """(count, *percentiles) of a histogram given as (bucket, count, sum) rows."""
    cells = sorted((b, n, total) for b, n, total in histogram if n > 0)
    count = sum(n for _, n, _ in cells)
    if not count:
        return (0, *(None for _ in shares))
    return (count, *(_percentile(cells, share * (count - 1)) for share in shares))


def _percentile(cells: list[tuple[int, int, float]], rank: float) -> float:
    low = math.floor(rank)
    low_value, high_value = _value_at(cells, low), _value_at(cells, math.ceil(rank))
    return low_value + (high_value - low_value) * (rank - low)


def _value_at(cells: list[tuple[int, int, float]], rank: int) -> float:
    seen = 0
    for _, n, total in cells:
        seen += n
        if rank < seen:
            return total / n
    return cells[-1][2] / cells[-1][1]


def days(since: datetime, until: datetime) -> tuple[date, date]:
    """The whole UTC days a period covers, as [first, last]: a report counts whole days."""
    end = until.astimezone(UTC)
    last = end.date() if end.time() != time.min else end.date() - timedelta(days=1)
    return since.astimezone(UTC).date(), last
