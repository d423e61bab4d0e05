"""The estimates report (issue 11): the lanes this shop has learned delivery times for, and
how often parcels arrived by the p90 date a learned estimate gave them.

- Lanes, as learned at the period's end: each carrier's newest deliveries (at most
  estimates.MAX_SAMPLES) in the ESTIMATE_WINDOW_DAYS before it, the same rule a parcel's
  estimate follows (store/estimates.Book), at every basis with enough deliveries.
- Accuracy over the period: the parcels delivered in it, each judged once by the periodic
  job against the estimate it would have had at its first scan (ordertrack/estimate_rollup.py).

Both read what the job keeps, so the report costs the same with a million orders: the
carriers come from the (carrier, delivered_at) index of `lane_deliveries`, one look-up
each; each carrier's lanes from at most MAX_SAMPLES rows of that index, counted by lane and
days in SQL; the accuracy from `estimate_days`, a row per UTC day and carrier, over the
period's whole days (as the other reports count). What the job has not judged yet (the
last six hours) is not counted.
"""

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from ordertrack import lanes
from ordertrack.store import estimates, lane_deliveries

if TYPE_CHECKING:
    from ordertrack.store.reports import Period


def estimates_report(session: Session, p: "Period", learning: lanes.Learning | None = None) -> dict:
    """Learned lanes at the period's end (carrier, lane, p50/p90 business days from first scan
    to delivery, deliveries), and the share of the period's parcels delivered by the p90 date
    of the estimate they had at their first scan."""
    learning = learning or lanes.Learning()
    start = p.until - timedelta(days=learning.window_days)
    rows = []
    for carrier in lane_deliveries.carriers(session):
        rows += _lane_rows(session, carrier, start, p.until, learning.min_samples)
    by_carrier = lane_deliveries.outcomes(session, p.since, p.until)
    judged = [_accuracy(carrier, *counts) for carrier, counts in sorted(by_carrier.items())]
    good, total = sum(r["on_time"] for r in judged), sum(r["judged"] for r in judged)
    return {
        **p.document(),
        "window_days": learning.window_days,
        "lanes": rows,
        "accuracy": {**_accuracy(None, good, total), "carriers": judged},
    }


def _lane_rows(
    session: Session, carrier: str, since: datetime, until: datetime, min_samples: int
) -> list[dict]:
    taught = lane_deliveries.lane_days(session, carrier, since, until, estimates.MAX_SAMPLES)
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
        for key, found in lanes.learned_lanes(taught, min_samples)
    ]


def _accuracy(carrier: str | None, good: int, total: int) -> dict:
    row = {"on_time": good, "judged": total, "share": round(good / total, 4) if total else None}
    return row if carrier is None else {"carrier": carrier, **row}


def lane_name(basis: str, key: tuple) -> str:
    """A lane key as people read it: "anywhere" (the carrier's every delivery), "US", "US-NY"
    (a region), "US 100*" (a postcode prefix). Every lane starts at the shop: ordertrack
    keeps no origin per parcel."""
    if basis == lanes.CARRIER:
        return "anywhere"
    if basis == lanes.COUNTRY:
        return key[0]
    return f"{key[0]}-{key[1]}" if basis == lanes.REGION else f"{key[0]} {key[1]}*"


#: The report as CSV: one table, a row per lane, then a row per carrier's accuracy.
LANE_COLUMNS = ("carrier", "service", "basis", "lane", "p50_days", "p90_days", "samples")
ACCURACY_COLUMNS = ("on_time", "judged", "share")
HEADER = ["table", *LANE_COLUMNS, *ACCURACY_COLUMNS]


def table(report: dict) -> tuple[list[str], list[list]]:
    blank = [None] * len(ACCURACY_COLUMNS)
    rows = [["lane", *(r[k] for k in LANE_COLUMNS), *blank] for r in report["lanes"]]
    accuracy = report["accuracy"]
    for r in [*accuracy["carriers"], {**accuracy, "carrier": "all"}]:
        lane = [r["carrier"], *(None for _ in LANE_COLUMNS[1:])]
        rows.append(["accuracy", *lane, *(r[k] for k in ACCURACY_COLUMNS)])
    return HEADER, rows
