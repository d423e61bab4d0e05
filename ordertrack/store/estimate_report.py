"""The estimates report (issue 11): the lanes this shop has learned delivery times for, and
how often parcels arrived by the p90 date a learned estimate gave them.

- Lanes, as learned at the period's end: each carrier's newest deliveries (at most
  estimates.MAX_SAMPLES) in the ESTIMATE_WINDOW_DAYS before it, which is exactly what
  store/estimates.Book reads for a parcel then, at every basis with enough deliveries.
- Accuracy over the period: the parcels delivered in it, each held to the estimate it would
  have had at its first scan (ordertrack/lane_accuracy.py).

Bounded however large the shop is, so it answers in the same time with a million orders: the
carriers come from the lower(carrier) index, one look-up each (a loose index scan); then one
query per carrier reads its newest MAX_JUDGED + MAX_SAMPLES deliveries from the window
before the period to the period's end on the (status, status_at) index, each with its first
scan through the history's (order_id, occurred_at) index. A carrier with more than MAX_JUDGED
deliveries in the period is judged on its newest MAX_JUDGED, and the report says `sampled`.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ordertrack import lane_accuracy, lanes
from ordertrack.business_days import Calendar
from ordertrack.store import estimates
from ordertrack.store.models import Shipment

if TYPE_CHECKING:
    from ordertrack.store.reports import Period

#: Deliveries judged per carrier and period: enough for a share to two digits.
MAX_JUDGED = 2000


@dataclass(frozen=True)
class Learning:
    """How estimates are learned here: the shop's business days and window (the settings)."""

    calendar: Calendar = field(default_factory=Calendar)
    window_days: int = lanes.WINDOW_DAYS
    min_samples: int = lanes.MIN_SAMPLES


def estimates_report(session: Session, p: "Period", learning: Learning | None = None) -> dict:
    """Learned lanes at the period's end (carrier, lane, p50/p90 business days from first scan
    to delivery, deliveries), and the share of the period's parcels delivered by the p90 date
    of the estimate they had at their first scan."""
    learning = learning or Learning()
    window = timedelta(days=learning.window_days)
    rows, judged = [], []
    for carrier in carriers(session):
        read = estimates.delivered(
            session, carrier, p.since - window, p.until, MAX_JUDGED + estimates.MAX_SAMPLES
        )
        rows += _lane_rows(carrier, read, p.until - window, learning)
        judged.append(_judged(carrier, read, p.since, learning))
    judged = [row for row in judged if row["judged"]]
    good, total = sum(r["on_time"] for r in judged), sum(r["judged"] for r in judged)
    accuracy = {
        "on_time": good,
        "judged": total,
        "share": _share(good, total),
        "sampled": any(r["sampled"] for r in judged),
        "carriers": judged,
    }
    return {
        **p.document(),
        "window_days": learning.window_days,
        "lanes": rows,
        "accuracy": accuracy,
    }


def carriers(session: Session) -> list[str]:
    """Every carrier a parcel was sent with, in lower case: the next name after each from the
    lower(carrier) index, so a few look-ups however many parcels there are."""
    name = func.lower(Shipment.carrier)
    first = select(func.min(name).label("name")).cte("carrier_names", recursive=True)
    following = select(select(func.min(name)).where(name > first.c.name).scalar_subquery())
    names = first.union_all(following.where(first.c.name.is_not(None)))
    return [n for n in session.scalars(select(names.c.name)) if n]


def _lane_rows(carrier: str, read: list[lanes.Past], start: datetime, learning: Learning):
    """What a parcel would be told at the period's end: the newest deliveries of the window."""
    recent = [p for p in read if p.delivered_at >= start][: estimates.MAX_SAMPLES]
    taught = [
        lanes.Delivery(p.lane, lanes.transit_days(learning.calendar, p.first_scan, p.delivered_at))
        for p in recent
    ]
    return [
        {
            "carrier": carrier,
            "service": None,
            "basis": found.basis,
            "lane": lane_name(found.basis, key),
            "p50_days": found.p50,
            "p90_days": found.p90,
            "samples": found.samples,
        }
        for key, found in lanes.learned_lanes(taught, learning.min_samples)
    ]


def _judged(carrier: str, read: list[lanes.Past], since: datetime, learning: Learning) -> dict:
    """The carrier's parcels delivered in the period (its newest MAX_JUDGED), held to the
    estimates the deliveries read before each one's first scan gave."""
    in_period = [p for p in read if p.delivered_at >= since]
    sampled = len(in_period) > MAX_JUDGED
    judged_from = in_period[MAX_JUDGED - 1].delivered_at if sampled else since
    good, total = lane_accuracy.accuracy(
        learning.calendar,
        read,
        learning.window_days,
        learning.min_samples,
        judged_from,
        estimates.MAX_SAMPLES,
    )
    return {
        "carrier": carrier,
        "on_time": good,
        "judged": total,
        "share": _share(good, total),
        "sampled": sampled,
    }


def lane_name(basis: str, key: tuple) -> str:
    """A lane key as people read it: "anywhere" (the carrier's every delivery), "US", "US-NY"
    (a region), "US 100*" (a postcode prefix). Every lane starts at the shop: ordertrack
    keeps no origin per parcel."""
    if basis == lanes.CARRIER:
        return "anywhere"
    if basis == lanes.COUNTRY:
        return key[0]
    return f"{key[0]}-{key[1]}" if basis == lanes.REGION else f"{key[0]} {key[1]}*"


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


#: The report as CSV: one table, a row per lane, then a row per carrier's accuracy.
HEADER = [
    "table",
    "carrier",
    "service",
    "basis",
    "lane",
    "p50_days",
    "p90_days",
    "samples",
    "on_time",
    "judged",
    "share",
    "sampled",
]


def table(report: dict) -> tuple[list[str], list[list]]:
    lane = ("carrier", "service", "basis", "lane", "p50_days", "p90_days", "samples")
    judged = ("on_time", "judged", "share", "sampled")
    rows = [["lane", *(r[k] for k in lane), *(None for _ in judged)] for r in report["lanes"]]
    accuracy = report["accuracy"]
    for r in [*accuracy["carriers"], {**accuracy, "carrier": "all"}]:
        rows.append(["accuracy", r["carrier"], *(None for _ in lane[1:]), *(r[k] for k in judged)])
    return HEADER, rows
