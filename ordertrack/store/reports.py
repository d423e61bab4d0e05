"""The performance picture (issue 11) for a period. The console page, the API and CSV all
read these functions, so the three never disagree.

What is about orders (the funnel, stage durations, carrier scorecards, items ordered per
product) reads the daily rollups the pipeline keeps as events apply (store/rollups.py): a
few rows per day, whatever the shop's size, over the whole UTC days of the period, by the
day the order reached us. Percentiles come from the rollups' histograms (exact where a
bucket's values are equal, within 1% otherwise). Delay flags are counted by when they were
raised or cleared, returns and notifications by when they were made, on an indexed time
column bounded by the period.
"""

from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Integer, String, and_, cast, func, select
from sqlalchemy.orm import Session, sessionmaker

from ordertrack.statuses import OrderStatus
from ordertrack.store import estimate_report, flags, rollups
from ordertrack.store.models import Order, Outbox, OutboxStatus
from ordertrack.store.return_models import Return, ReturnItem
from ordertrack.store.rollup_models import (
    OrderDay,
    ParcelDay,
    ProductDay,
    StageBucket,
    TransitBucket,
)

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


def _on_days(column, p: Period):
    """The rollups' days: whole UTC days, from since's day to the day before until (or
    until's own day when it is not midnight)."""
    first, last = rollups.days(p.since, p.until)
    return and_(column >= first, column <= last)


def _monday(session: Session, day):
    """The Monday of a day's ISO week, in SQL: rollup rows fold into weeks in the database."""
    if session.get_bind().dialect.name == "postgresql":
        return day - (cast(func.extract("isodow", day), Integer) - 1)
    return func.date(day, "-" + cast((func.strftime("%w", day) + 6) % 7, String) + " days")


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def iso_week(moment: datetime | date) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# --- 1. funnel -------------------------------------------------------------------------


def funnel(session: Session, p: Period) -> dict:
    """Orders of the period by their status now: each main-line step with how many stand
    there and how many are at or past it, then the detours."""
    query = (
        select(OrderDay.status, func.sum(OrderDay.orders))
        .where(_on_days(OrderDay.day, p))
        .group_by(OrderDay.status)
    )
    now = {str(status): int(n) for status, n in session.execute(query) if n}
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


def stages(session: Session, p: Period) -> dict:
    """Stage durations in hours, p50 and p90, by the ISO week the order reached us, and for
    the whole period; the slowest of the three stages (by p50) is the bottleneck. A stage
    counts where both its ends are known and in order."""
    monday = _monday(session, StageBucket.day)
    query = (
        select(
            monday,
            StageBucket.stage,
            StageBucket.bucket,
            func.sum(StageBucket.orders),
            func.sum(StageBucket.hours),
        )
        .where(_on_days(StageBucket.day, p))
        .group_by(monday, StageBucket.stage, StageBucket.bucket)
    )
    histograms: dict[str, dict[str, dict[int, list]]] = defaultdict(lambda: defaultdict(dict))
    for week_start, stage, bucket, n, hours in session.execute(query):
        if not n:
            continue
        for week in (iso_week(_as_date(week_start)), "all"):
            cell = histograms[week][stage].setdefault(bucket, [0, 0.0])
            cell[0] += n
            cell[1] += hours
    found = {
        week: {
            stage: rollups.percentiles(((b, n, h) for b, (n, h) in cells.items()), (0.5, 0.9))
            for stage, cells in by_stage.items()
        }
        for week, by_stage in histograms.items()
    }
    weeks = [_stage_row(week, found[week]) for week in sorted(w for w in found if w != "all")]
    return {**p.document(), "weeks": weeks, "overall": _stage_row("all", found.get("all", {}))}


def _stage_row(week: str, found: dict[str, tuple]) -> dict:
    row: dict = {"week": week}
    for name in STAGES:
        count, p50, p90 = found.get(name, (0, None, None))
        row[name] = {"count": count, "p50_hours": _round(p50), "p90_hours": _round(p90)}
    timed = [(row[s]["p50_hours"], s) for s in STAGES[:3] if row[s]["p50_hours"] is not None]
    row["bottleneck"] = max(timed)[1] if timed else None
    return row


# --- 3. carriers -----------------------------------------------------------------------

_CARD_COUNTS = ("parcels", "delivered", "estimated", "on_time", "first_attempt", "exceptions")


def carriers(session: Session, p: Period) -> dict:
    """Scorecards by carrier (`carriers`) and by carrier and destination country and region
    (`rows`): on-time share (delivered on or before the carrier's estimate, of those
    delivered with one), first-attempt share (delivered with no failed attempt before),
    exception share (of all parcels), p50/p90 transit days (first scan to delivered)."""
    lane = (ParcelDay.carrier, ParcelDay.country, ParcelDay.region)
    counts = (
        select(*lane, *(func.sum(getattr(ParcelDay, c)) for c in _CARD_COUNTS))
        .where(_on_days(ParcelDay.day, p))
        .group_by(*lane)
    )
    cards: dict[tuple, dict] = {}
    for name, country, region, *cells in session.execute(counts):
        for key in ((name, None, None), (name, country, region)):
            card = cards.setdefault(key, {**dict.fromkeys(_CARD_COUNTS, 0), "transit": {}})
            for field, n in zip(_CARD_COUNTS, cells, strict=True):
                card[field] += int(n or 0)
    t = TransitBucket
    transit = (
        select(t.carrier, t.country, t.region, t.bucket, func.sum(t.parcels), func.sum(t.days))
        .where(_on_days(t.day, p))
        .group_by(t.carrier, t.country, t.region, t.bucket)
    )
    for name, country, region, bucket, n, total in session.execute(transit):
        for key in ((name, None, None), (name, country, region)):
            if key not in cards:  # no parcels counted there (the counts were emptied)
                continue
            cell = cards[key]["transit"].setdefault(bucket, [0, 0.0])
            cell[0] += int(n)
            cell[1] += total
    keys = sorted((k for k in cards if cards[k]["parcels"]), key=lambda k: tuple(map(str, k)))
    rows = [_card_row(k, cards[k]) for k in keys if k[1] is not None]
    totals = [_card_row(k, cards[k]) for k in keys if k[1] is None]
    return {**p.document(), "carriers": totals, "rows": rows}


def _card_row(key: tuple, c: dict) -> dict:
    name, country, region = key
    _, p50, p90 = rollups.percentiles(((b, n, d) for b, (n, d) in c["transit"].items()), (0.5, 0.9))
    return {
        "carrier": name,
        "country": country or None,
        "region": region or None,
        "parcels": c["parcels"],
        "delivered": c["delivered"],
        "on_time_share": _share(c["on_time"], c["estimated"]),
        "first_attempt_share": _share(c["first_attempt"], c["delivered"]),
        "exception_share": _share(c["exceptions"], c["parcels"]),
        "transit_p50_days": _round(p50, 2),
        "transit_p90_days": _round(p90, 2),
    }


# --- 4. delays -------------------------------------------------------------------------


def delays(session: Session, p: Period) -> dict:
    """Flags raised and cleared per ISO week of the period's whole UTC days (from the day
    counts flags keep as they open and clear), and the flags open now by kind."""
    weeks: dict[str, dict] = {}
    for day, raised, cleared in flags.raised_and_cleared(session, *rollups.days(p.since, p.until)):
        week = iso_week(day)
        counts = weeks.setdefault(week, {"week": week, "raised": 0, "cleared": 0})
        counts["raised"] += int(raised)
        counts["cleared"] += int(cleared)
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
    """Items ordered per title, from the daily rollup."""
    query = (
        select(ProductDay.title, func.sum(ProductDay.ordered))
        .where(_on_days(ProductDay.day, p))
        .group_by(ProductDay.title)
    )
    return {title: int(n) for title, n in session.execute(query) if n}


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


def every_report(
    sessions: sessionmaker[Session],
    p: Period,
    threads: int = 3,
    chosen: dict[str, Callable[[Session, Period], dict]] | None = None,
) -> dict:
    """Every report of one period (`chosen`: REPORTS, or them as a shop's settings read
    them), each in its own session and thread: the console shows them on one page, and the
    database answers them side by side (a page costs about its slowest report, not their
    sum)."""
    chosen = chosen or REPORTS

    def one(name: str) -> tuple[str, dict]:
        with sessions() as session:
            return name, chosen[name](session, p)

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="report") as pool:
        return dict(pool.map(one, chosen))


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
