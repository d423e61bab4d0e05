"""The performance picture (issue 11) for a period: set-based aggregate queries, the same on
PostgreSQL and SQLite, each bounded by the period on an indexed time column. The console
page, the API and CSV all read these functions, so the three never disagree.

The period selects orders by `created_at` (when the order reached us), flags by when they
were raised or cleared, returns and notifications by when they were made. Stage and transit
times come from the milestones kept on the order and parcel rows (store/milestones.py), not
from the history. Percentiles are PostgreSQL's percentile_cont, computed where the rows are;
SQLite has none, so there the period's rows are fetched and the same interpolation is done
here (`percentile`), and the tests hold both ways to the same hand-computed numbers.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Integer, and_, cast, func, select, text, true
from sqlalchemy.orm import Session

from ordertrack.statuses import OrderStatus
from ordertrack.store import flags
from ordertrack.store.flag_models import DelayFlag
from ordertrack.store.models import Order, Outbox, OutboxStatus, Shipment
from ordertrack.store.return_models import Return, ReturnItem

#: The period when none is asked for: the last eight weeks.
DEFAULT_WEEKS = 8
#: The longest period a report covers: keeps every query bounded.
MAX_DAYS = 366

MAIN_LINE = (
    OrderStatus.RECEIVED,
    OrderStatus.PROCESSING,
    OrderStatus.SHIPPED,
    OrderStatus.IN_TRANSIT,
    OrderStatus.OUT_FOR_DELIVERY,
    OrderStatus.DELIVERED,
    OrderStatus.COMPLETED,
)
DETOURS = (
    OrderStatus.ON_HOLD,
    OrderStatus.DELIVERY_FAILED,
    OrderStatus.AVAILABLE_FOR_PICKUP,
    OrderStatus.EXCEPTION,
    OrderStatus.RETURNED,
    OrderStatus.CANCELLED,
    OrderStatus.REFUNDED,
)
#: A detour counts, for "at or past", as the main-line step it happens after.
_DETOUR_STEP = {
    OrderStatus.ON_HOLD: OrderStatus.PROCESSING,
    OrderStatus.EXCEPTION: OrderStatus.IN_TRANSIT,
    OrderStatus.DELIVERY_FAILED: OrderStatus.OUT_FOR_DELIVERY,
    OrderStatus.AVAILABLE_FOR_PICKUP: OrderStatus.OUT_FOR_DELIVERY,
    OrderStatus.RETURNED: OrderStatus.OUT_FOR_DELIVERY,
}
#: The three stages in the order a parcel goes through them, then the whole.
STAGES = ("warehouse", "pickup", "transit", "order_to_delivered")
STAGE_WORDS = {
    "warehouse": "Order to shipped (warehouse)",
    "pickup": "Shipped to first scan (pickup)",
    "transit": "First scan to delivered (transit)",
    "order_to_delivered": "Order to delivered",
}
CHANNEL_OK = (OutboxStatus.SENT, OutboxStatus.DELIVERED)


@dataclass(frozen=True)
class Period:
    """[since, until): aware UTC datetimes."""

    since: datetime
    until: datetime

    def document(self) -> dict:
        return {"since": self.since.isoformat(), "until": self.until.isoformat()}


def period(since: datetime | None, until: datetime | None, now: datetime) -> Period:
    """The asked period, or the last DEFAULT_WEEKS up to now; ValueError if it is backwards
    or longer than MAX_DAYS (a report stays bounded)."""
    until = until or now
    since = since or until - timedelta(weeks=DEFAULT_WEEKS)
    if since >= until:
        raise ValueError("since must be before until")
    if until - since > timedelta(days=MAX_DAYS):
        raise ValueError(f"a period is at most {MAX_DAYS} days")
    return Period(since.astimezone(UTC), until.astimezone(UTC))


def _in(column, p: Period):
    return and_(column >= p.since, column < p.until)


def iso_week(moment: datetime | date) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def percentile(values: list[float], share: float) -> float | None:
    """Linear interpolation between closest ranks, as PostgreSQL's percentile_cont does."""
    if not values:
        return None
    ordered = sorted(values)
    rank = share * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _hours(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds() / 3600


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _day(session: Session, column):
    """The UTC calendar day of a timestamp, as text, in SQL: grouping by day happens in the
    database, and the few day rows fold into ISO weeks here."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)


# --- 1. funnel -------------------------------------------------------------------------


def funnel(session: Session, p: Period) -> dict:
    """Orders of the period by their status now: each main-line step with how many stand
    there and how many are at or past it, then the detours."""
    query = (
        select(Order.status, func.count()).where(_in(Order.created_at, p)).group_by(Order.status)
    )
    now = {str(status): n for status, n in session.execute(query)}
    step = {status: i for i, status in enumerate(MAIN_LINE)}
    reached = [0] * len(MAIN_LINE)
    for status, n in now.items():
        at = step.get(status, step.get(_DETOUR_STEP.get(status), -1))
        for i in range(at + 1):
            reached[i] += n
    rows = [
        {"status": str(s), "line": "main", "orders": now.get(s, 0), "at_or_past": reached[i]}
        for i, s in enumerate(MAIN_LINE)
    ]
    rows += [
        {"status": str(s), "line": "detour", "orders": now.get(s, 0), "at_or_past": None}
        for s in DETOURS
    ]
    return {**p.document(), "total": sum(now.values()), "rows": rows}


# --- 2. stages -------------------------------------------------------------------------

#: Each stage as (start, end) milestone columns of the order (store/milestones.py).
_STAGE_SPANS = {
    "warehouse": ("placed", "shipped_at"),
    "pickup": ("shipped_at", "first_scan_at"),
    "transit": ("first_scan_at", "delivered_at"),
    "order_to_delivered": ("placed", "delivered_at"),
}


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def stages(session: Session, p: Period) -> dict:
    """Stage durations in hours, p50 and p90, by the ISO week the order was placed, and for
    the whole period; the slowest of the three stages (by p50) is the bottleneck. A stage
    counts where both its ends are known and in order."""
    fold = _stage_percentiles_sql if _is_postgresql(session) else _stage_percentiles_python
    found = fold(session, p)
    weeks = [_stage_row(week, found[week]) for week in sorted(w for w in found if w != "all")]
    return {**p.document(), "weeks": weeks, "overall": _stage_row("all", found.get("all", {}))}


def _hours_sql(start: str, end: str) -> str:
    return f"CASE WHEN {end} >= {start} THEN EXTRACT(EPOCH FROM {end} - {start}) / 3600 END"


#: One pass over the period's orders in ix_orders_created (the milestones ride in it), both
#: percentiles of a stage from one sort, each week and the whole period from one grouping.
_STAGES_SQL = f"""
SELECT COALESCE(week, 'all'),
    {
    ", ".join(
        f"COUNT({s}), PERCENTILE_CONT(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY {s})" for s in STAGES
    )
}
FROM (
    SELECT TO_CHAR(placed AT TIME ZONE 'UTC', 'IYYY-"W"IW') AS week,
        {
    ", ".join(
        f"CAST({_hours_sql(a, b)} AS double precision) AS {s}" for s, (a, b) in _STAGE_SPANS.items()
    )
}
    FROM (
        SELECT LEAST(COALESCE(placed_at, created_at), created_at) AS placed,
            shipped_at, first_scan_at, delivered_at
        FROM orders WHERE created_at >= :since AND created_at < :until
    ) AS o
) AS t
GROUP BY GROUPING SETS ((week), ())
"""  # noqa: S608 (built from constants only)


def _stage_percentiles_sql(session: Session, p: Period) -> dict[str, dict[str, tuple]]:
    found: dict[str, dict[str, tuple]] = {}
    for week, *cells in session.execute(text(_STAGES_SQL), {"since": p.since, "until": p.until}):
        found[week] = {
            name: (count, *(percentiles or (None, None)))
            for name, count, percentiles in zip(STAGES, cells[::2], cells[1::2], strict=True)
        }
    return found


def _stage_percentiles_python(session: Session, p: Period) -> dict[str, dict[str, tuple]]:
    """The same, for SQLite (no percentile_cont): the period's milestones fetched."""
    query = select(
        Order.created_at, Order.placed_at, Order.shipped_at, Order.first_scan_at,
        Order.delivered_at,
    ).where(_in(Order.created_at, p))  # fmt: skip
    durations: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for created, placed_at, *ends in session.execute(query):
        times = dict(zip(("shipped_at", "first_scan_at", "delivered_at"), ends, strict=True))
        times["placed"] = min(filter(None, (placed_at, created)))
        for name, (start, end) in _STAGE_SPANS.items():
            hours = _hours(times[start], times[end])
            if hours is not None:
                durations[iso_week(times["placed"])][name].append(hours)
                durations["all"][name].append(hours)
    return {
        week: {name: _count_and_percentiles(values) for name, values in stages.items()}
        for week, stages in durations.items()
    }


def _count_and_percentiles(values: list[float]) -> tuple:
    return len(values), percentile(values, 0.5), percentile(values, 0.9)


def _stage_row(week: str, found: dict[str, tuple]) -> dict:
    row: dict = {"week": week}
    for name in STAGES:
        count, p50, p90 = found.get(name, (0, None, None))
        row[name] = {"count": count, "p50_hours": _round(p50), "p90_hours": _round(p90)}
    timed = [(row[s]["p50_hours"], s) for s in STAGES[:3] if row[s]["p50_hours"] is not None]
    row["bottleneck"] = max(timed)[1] if timed else None
    return row


# --- 3. carriers -----------------------------------------------------------------------

#: What a scorecard counts, in the order both ways of computing it give them.
_CARD_COUNTS = ("parcels", "delivered", "estimated", "on_time", "first", "exc")

#: Per parcel of the period's orders: its counts (0/1 each) and transit days, grouped by
#: carrier and destination, and by carrier alone (GROUPING 1 on the destination).
_CARRIERS_SQL = """
SELECT carrier, country, region, GROUPING(country),
    COUNT(*), COUNT(delivered_at),
    COUNT(*) FILTER (WHERE delivered_at IS NOT NULL AND est_delivery IS NOT NULL),
    COUNT(*) FILTER (WHERE CAST(delivered_at AT TIME ZONE 'UTC' AS date) <= est_delivery),
    COUNT(*) FILTER (WHERE delivered_at IS NOT NULL
                     AND (first_failed_at IS NULL OR first_failed_at > delivered_at)),
    COUNT(first_exception_at),
    PERCENTILE_CONT(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY transit_days)
FROM (
    SELECT LOWER(COALESCE(s.carrier, s.reported_carrier, 'unknown')) AS carrier,
        COALESCE(o.country_code, '') AS country, COALESCE(o.province_code, '') AS region,
        s.delivered_at, s.est_delivery, s.first_failed_at, s.first_exception_at,
        CAST(CASE WHEN s.delivered_at >= s.first_scan_at
             THEN EXTRACT(EPOCH FROM s.delivered_at - s.first_scan_at) / 86400 END
             AS double precision) AS transit_days
    FROM orders AS o JOIN shipments AS s ON s.order_id = o.id
    WHERE o.created_at >= :since AND o.created_at < :until AND NOT s.cancelled
) AS parcels
GROUP BY GROUPING SETS ((carrier), (carrier, country, region))
"""


def carriers(session: Session, p: Period) -> dict:
    """Scorecards by carrier (`carriers`) and by carrier and destination country and region
    (`rows`): on-time share (delivered on or before the carrier's estimate, of those
    delivered with one), first-attempt share (delivered with no failed attempt before),
    exception share (of all parcels), p50/p90 transit days (first scan to delivered)."""
    fold = _carrier_cards_sql if _is_postgresql(session) else _carrier_cards_python
    cards = fold(session, p)
    rows = [_card_row(key, cards[key]) for key in sorted(k for k in cards if k[1] is not None)]
    totals = [_card_row(key, cards[key]) for key in sorted(k for k in cards if k[1] is None)]
    return {**p.document(), "carriers": totals, "rows": rows}


def _carrier_cards_sql(session: Session, p: Period) -> dict[tuple, dict]:
    cards = {}
    for name, country, region, whole, *cells in session.execute(
        text(_CARRIERS_SQL), {"since": p.since, "until": p.until}
    ):
        key = (name, None, None) if whole else (name, country, region)
        cards[key] = dict(zip(_CARD_COUNTS, cells[:-1], strict=True))
        cards[key]["transit"] = tuple(cells[-1] or (None, None))
    return cards


def _carrier_cards_python(session: Session, p: Period) -> dict[tuple, dict]:
    """The same, for SQLite: the period's parcels fetched and counted here."""
    carrier = func.lower(func.coalesce(Shipment.carrier, Shipment.reported_carrier, "unknown"))
    query = (
        select(
            carrier,
            func.coalesce(Order.country_code, ""),
            func.coalesce(Order.province_code, ""),
            Shipment.est_delivery,
            Shipment.first_scan_at,
            Shipment.delivered_at,
            Shipment.first_failed_at,
            Shipment.first_exception_at,
        )
        .join(Order, Order.id == Shipment.order_id)
        .where(_in(Order.created_at, p), Shipment.cancelled.is_(False))
    )
    counts: dict[tuple, dict] = {}
    transit: dict[tuple, list[float]] = defaultdict(list)
    for name, country, region, estimate, scanned, delivered, failed, exception in session.execute(
        query
    ):
        parcel = {
            "parcels": 1,
            "delivered": delivered is not None,
            "estimated": delivered is not None and estimate is not None,
            "on_time": bool(delivered and estimate and delivered.date() <= estimate),
            "first": delivered is not None and (failed is None or failed > delivered),
            "exc": exception is not None,
        }
        hours = _hours(scanned, delivered)
        for key in ((name, None, None), (name, country, region)):
            card = counts.setdefault(key, dict.fromkeys(_CARD_COUNTS, 0))
            for field, counted in parcel.items():
                card[field] += int(counted)
            if hours is not None:
                transit[key].append(hours / 24)
    for key, card in counts.items():
        card["transit"] = (percentile(transit[key], 0.5), percentile(transit[key], 0.9))
    return counts


def _card_row(key: tuple, c: dict) -> dict:
    name, country, region = key
    return {
        "carrier": name,
        "country": country or None,
        "region": region or None,
        "parcels": c["parcels"],
        "delivered": c["delivered"],
        "on_time_share": _share(c["on_time"], c["estimated"]),
        "first_attempt_share": _share(c["first"], c["delivered"]),
        "exception_share": _share(c["exc"], c["parcels"]),
        "transit_p50_days": _round(c["transit"][0], 2),
        "transit_p90_days": _round(c["transit"][1], 2),
    }


# --- 4. delays -------------------------------------------------------------------------


def delays(session: Session, p: Period) -> dict:
    """Flags raised and cleared per ISO week of the period (grouped by day in SQL, on the
    indexed times), and the flags open now by kind."""
    weeks: dict[str, dict] = {}
    for column, key in ((DelayFlag.created_at, "raised"), (DelayFlag.cleared_at, "cleared")):
        day = _day(session, column)
        query = select(day, func.count()).where(_in(column, p)).group_by(day)
        for day_text, n in session.execute(query):
            week = iso_week(date.fromisoformat(day_text))
            weeks.setdefault(week, {"week": week, "raised": 0, "cleared": 0})[key] += n
    open_now = [{"kind": k, "open": n} for k, n in flags.count_open_by_kind(session).items()]
    return {**p.document(), "weeks": [weeks[w] for w in sorted(weeks)], "open_now": open_now}


# --- 5. returns ------------------------------------------------------------------------


def returns(session: Session, p: Period) -> dict:
    """Returns of the period by reason, and per product the items returned over the items
    ordered in the period's orders (by the product's title, as the order lines name it)."""
    counted = (
        select(Return.reason, func.count()).where(_in(Return.created_at, p)).group_by(Return.reason)
    )
    items = (
        select(Return.reason, func.sum(ReturnItem.quantity))
        .join(ReturnItem, ReturnItem.return_id == Return.id)
        .where(_in(Return.created_at, p))
        .group_by(Return.reason)
    )
    by_reason = dict(session.execute(counted).all())
    items_by_reason = dict(session.execute(items).all())
    reasons = [
        {"reason": reason, "returns": n, "items": int(items_by_reason.get(reason) or 0)}
        for reason, n in sorted(by_reason.items(), key=lambda r: (-r[1], r[0]))
    ]
    returned = dict(
        session.execute(
            select(ReturnItem.title, func.sum(ReturnItem.quantity))
            .join(Return, Return.id == ReturnItem.return_id)
            .join(Order, Order.id == Return.order_id)
            .where(_in(Order.created_at, p))
            .group_by(ReturnItem.title)
        ).all()
    )
    ordered = _ordered_by_title(session, p)
    products = [
        {
            "product": title,
            "ordered": ordered.get(title, 0),
            "returned": int(returned.get(title, 0)),
            "return_rate": _share(int(returned.get(title, 0)), ordered.get(title, 0)),
        }
        for title in sorted(set(ordered) | set(returned))
    ]
    products.sort(key=lambda r: (-(r["return_rate"] or 0), r["product"]))
    return {**p.document(), "reasons": reasons, "products": products}


def _ordered_by_title(session: Session, p: Period) -> dict[str, int]:
    """Items ordered per title: the order lines (a JSON array) unnested in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        line = func.json_array_elements(Order.items).table_valued("value").alias("line")
        title = line.c.value.op("->>")("title")
        quantity = cast(line.c.value.op("->>")("quantity"), Integer)
    else:
        line = func.json_each(Order.items).table_valued("value").alias("line")
        title = func.json_extract(line.c.value, "$.title")
        quantity = cast(func.json_extract(line.c.value, "$.quantity"), Integer)
    query = (
        select(title, func.sum(quantity))
        .select_from(Order)
        .join(line, true())
        .where(_in(Order.created_at, p))
        .group_by(title)
    )
    return {t: int(n) for t, n in session.execute(query) if t is not None}


# --- 6. notifications ------------------------------------------------------------------


def notifications(session: Session, p: Period) -> dict:
    """Per channel: messages made in the period, the share sent or delivered, the share
    failed for good (the rest are pending or skipped on purpose)."""
    query = (
        select(Outbox.channel, Outbox.status, func.count())
        .where(_in(Outbox.created_at, p))
        .group_by(Outbox.channel, Outbox.status)
    )
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for channel, status, n in session.execute(query):
        counts[channel][status] = n
    rows = []
    for channel in sorted(counts):
        c, total = counts[channel], sum(counts[channel].values())
        ok = sum(c.get(s, 0) for s in CHANNEL_OK)
        rows.append(
            {
                "channel": channel,
                "total": total,
                "delivered": ok,
                "failed": c.get(OutboxStatus.FAILED, 0),
                "delivery_rate": _share(ok, total),
                "failed_share": _share(c.get(OutboxStatus.FAILED, 0), total),
            }
        )
    return {**p.document(), "rows": rows}


#: Every report by its name in the URL, in order of importance.
REPORTS: dict[str, Callable[[Session, Period], dict]] = {
    "funnel": funnel,
    "stages": stages,
    "carriers": carriers,
    "delays": delays,
    "returns": returns,
    "notifications": notifications,
}


def table(name: str, report: dict) -> tuple[list[str], list[list]]:
    """A report as one flat table (header, rows), for CSV: nested parts become columns, and a
    report with two lists says which list a row is from."""
    if name == "stages":
        header = ["week", "bottleneck"] + [
            f"{s}_{m}" for s in STAGES for m in ("count", "p50_hours", "p90_hours")
        ]
        rows = [
            [row["week"], row["bottleneck"]]
            + [row[s][m] for s in STAGES for m in ("count", "p50_hours", "p90_hours")]
            for row in [*report["weeks"], report["overall"]]
        ]
        return header, rows
    if name == "delays":
        header = ["table", "week", "raised", "cleared", "kind", "open"]
        rows = [
            ["weekly", w["week"], w["raised"], w["cleared"], None, None] for w in report["weeks"]
        ]
        rows += [["open_now", None, None, None, o["kind"], o["open"]] for o in report["open_now"]]
        return header, rows
    if name == "returns":
        header = ["table", "reason", "returns", "items", "product", "ordered", "returned", "rate"]
        rows = [["reason", r["reason"], r["returns"], r["items"], None, None, None, None]
                for r in report["reasons"]]  # fmt: skip
        rows += [
            [
                "product",
                None,
                None,
                None,
                r["product"],
                r["ordered"],
                r["returned"],
                r["return_rate"],
            ]
            for r in report["products"]
        ]
        return header, rows
    header = HEADERS[name]
    rows = report.get("carriers", []) + report["rows"]  # a carrier's total: no destination
    return header, [[row[column] for column in header] for row in rows]


HEADERS = {
    "funnel": ["status", "line", "orders", "at_or_past"],
    "carriers": [
        "carrier",
        "country",
        "region",
        "parcels",
        "delivered",
        "on_time_share",
        "first_attempt_share",
        "exception_share",
        "transit_p50_days",
        "transit_p90_days",
    ],
    "notifications": ["channel", "total", "delivered", "failed", "delivery_rate", "failed_share"],
}
