"""The performance picture (issue 11) for a period: set-based aggregate queries, the same on
PostgreSQL and SQLite, each bounded by the period on an indexed time column. The console
page, the API and CSV all read these functions, so the three never disagree.

The period selects orders by `created_at` (when the order reached us), flags by when they
were raised or cleared, returns and notifications by when they were made. Percentiles are
computed in Python over the fetched durations: one way for both databases, and a period's
orders are few enough rows of four timestamps each.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Integer, and_, case, cast, func, select, true
from sqlalchemy.orm import Session

from ordertrack.statuses import OrderStatus
from ordertrack.store import estimate_report, flags
from ordertrack.store.flag_models import DelayFlag
from ordertrack.store.models import History, Order, Outbox, OutboxStatus, Shipment
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
#: A carrier status that means the carrier has the parcel in hand (its first scan).
SCANNED = (
    "in_transit",
    "out_for_delivery",
    "delivery_failed",
    "available_for_pickup",
    "exception",
    "delivered",
)
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


def _first(condition):
    return func.min(case((condition, History.occurred_at)))


def _order_times(session: Session, p: Period):
    """(placed, shipped, first scan, delivered) per order of the period: one grouped pass
    over their history (ix_history_order_time)."""
    query = (
        select(
            Order.id,
            Order.created_at,
            _first(History.kind == "order"),
            _first(and_(History.kind == "fulfillment", History.status == "fulfilled")),
            _first(and_(History.kind == "tracking", History.status.in_(SCANNED))),
            _first(and_(History.kind == "tracking", History.status == "delivered")),
        )
        .outerjoin(History, History.order_id == Order.id)
        .where(_in(Order.created_at, p))
        .group_by(Order.id, Order.created_at)
    )
    for _, created, placed, shipped, scanned, delivered in session.execute(query):
        yield min(filter(None, (created, placed))), shipped, scanned, delivered


def stages(session: Session, p: Period) -> dict:
    """Stage durations in hours, p50 and p90, by the ISO week the order was placed, and for
    the whole period; the slowest of the three stages (by p50) is the bottleneck."""
    by_week: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for placed, shipped, scanned, delivered in _order_times(session, p):
        durations = {
            "warehouse": _hours(placed, shipped),
            "pickup": _hours(shipped, scanned),
            "transit": _hours(scanned, delivered),
            "order_to_delivered": _hours(placed, delivered),
        }
        for name, hours in durations.items():
            if hours is not None:
                by_week[iso_week(placed)][name].append(hours)
                by_week["all"][name].append(hours)
    weeks = [_stage_row(week, by_week[week]) for week in sorted(w for w in by_week if w != "all")]
    overall = _stage_row("all", by_week.get("all", {}))
    return {**p.document(), "weeks": weeks, "overall": overall}


def _stage_row(week: str, durations: dict[str, list[float]]) -> dict:
    row: dict = {"week": week}
    for name in STAGES:
        values = durations.get(name, [])
        row[name] = {
            "count": len(values),
            "p50_hours": _round(percentile(values, 0.5)),
            "p90_hours": _round(percentile(values, 0.9)),
        }
    timed = [(row[s]["p50_hours"], s) for s in STAGES[:3] if row[s]["p50_hours"] is not None]
    row["bottleneck"] = max(timed)[1] if timed else None
    return row


# --- 3. carriers -----------------------------------------------------------------------


def _parcel_first(condition):
    return func.min(case((condition, History.occurred_at)))


def _parcel_count(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def carriers(session: Session, p: Period) -> dict:
    """Scorecards by carrier and destination country: on-time share (delivered on or before
    the carrier's estimate, of those delivered with one), first-attempt share (delivered
    with no failed attempt before), exception share (of all parcels), p50/p90 transit days
    (first scan to delivered). One grouped pass over the period's parcels and their news."""
    carrier = func.lower(func.coalesce(Shipment.carrier, Shipment.reported_carrier, "unknown"))
    tracking = History.kind == "tracking"
    query = (
        select(
            carrier,
            func.coalesce(Order.country_code, ""),
            Shipment.est_delivery,
            _parcel_first(and_(tracking, History.status.in_(SCANNED))),
            _parcel_first(and_(tracking, History.status == "delivered")),
            _parcel_count(and_(tracking, History.status == "delivery_failed")),
            _parcel_count(and_(tracking, History.status == "exception")),
            _parcel_first(and_(tracking, History.status == "delivery_failed")),
        )
        .join(Order, Order.id == Shipment.order_id)
        .outerjoin(
            History,
            and_(History.order_id == Shipment.order_id, History.shipment_key == Shipment.key),
        )
        .where(_in(Order.created_at, p), Shipment.cancelled.is_(False))
        .group_by(Shipment.id, carrier, Order.country_code, Shipment.est_delivery)
    )
    cards: dict[tuple[str, str], dict] = {}
    for (
        name,
        country,
        estimate,
        scanned,
        delivered,
        failed,
        exceptions,
        first_fail,
    ) in session.execute(query):
        card = cards.setdefault(
            (name, country),
            {"parcels": 0, "delivered": 0, "estimated": 0, "on_time": 0, "first": 0, "exc": 0},
        )
        card.setdefault("transit", [])
        card["parcels"] += 1
        card["exc"] += 1 if exceptions else 0
        if delivered is None:
            continue
        card["delivered"] += 1
        if not failed or (first_fail is not None and first_fail > delivered):
            card["first"] += 1
        if estimate is not None:
            card["estimated"] += 1
            card["on_time"] += 1 if delivered.astimezone(UTC).date() <= estimate else 0
        days = _hours(scanned, delivered)
        if days is not None:
            card["transit"].append(days / 24)
    rows = [
        {
            "carrier": name,
            "country": country or None,
            "parcels": c["parcels"],
            "delivered": c["delivered"],
            "on_time_share": _share(c["on_time"], c["estimated"]),
            "first_attempt_share": _share(c["first"], c["delivered"]),
            "exception_share": _share(c["exc"], c["parcels"]),
            "transit_p50_days": _round(percentile(c["transit"], 0.5), 2),
            "transit_p90_days": _round(percentile(c["transit"], 0.9), 2),
        }
        for (name, country), c in sorted(cards.items())
    ]
    return {**p.document(), "rows": rows}


# --- 4. delays -------------------------------------------------------------------------


def delays(session: Session, p: Period) -> dict:
    """Flags raised and cleared per ISO week of the period (grouped by day in SQL, on the
    indexed times), and the flags open now by kind."""
    weeks: dict[str, dict] = {}
    for column, key in ((DelayFlag.created_at, "raised"), (DelayFlag.cleared_at, "cleared")):
        day = _day(session, column)
        query = select(day, func.count()).where(_in(column, p)).group_by(day)
        for text, n in session.execute(query):
            week = iso_week(date.fromisoformat(text))
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
    "estimates": estimate_report.estimates_report,
}


def table(name: str, report: dict) -> tuple[list[str], list[list]]:
    """A report as one flat table (header, rows), for CSV: nested parts become columns, and a
    report with two lists says which list a row is from."""
    if name == "estimates":
        return estimate_report.table(report)
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
    return header, [[row[column] for column in header] for row in report["rows"]]


HEADERS = {
    "funnel": ["status", "line", "orders", "at_or_past"],
    "carriers": [
        "carrier",
        "country",
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
