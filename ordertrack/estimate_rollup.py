"""The use case "learn estimates": judge the deliveries reported since the last run, and keep
them in `lane_deliveries` (store/estimate_models.py) for the estimates report.

Each run reads the next BATCH "delivered" facts from the history after the mark it left,
and judges their parcels: was each delivered by the p90 date of the estimate it would have
had at its first scan (ordertrack/lane_accuracy.py)? What teaches is the carrier's deliveries
judged before, plus the batch's own. Everything in one transaction with the new mark, so a
run that fails leaves nothing half done, and each delivery is judged once.

A fresh database catches up over a few runs (a batch each); a delivery reported long after
it happened teaches only the parcels judged after it. The sweeper runs this with the delay
check, every DELAY_CHECK_SECONDS; `run_until_caught_up` is for a command or a test.
"""

from dataclasses import dataclass
from datetime import timedelta
from itertools import groupby

from sqlalchemy.orm import Session, sessionmaker

from ordertrack import lane_accuracy, lanes
from ordertrack.settings import Settings
from ordertrack.store import estimates, lane_deliveries

#: Delivered facts read per run: a few seconds of work at most.
BATCH = 2000


def learning_of(settings: Settings) -> lanes.Learning:
    """SHOP_TIMEZONE, BUSINESS_DAYS and HOLIDAYS count the days; ESTIMATE_WINDOW_DAYS."""
    return lanes.Learning(settings.calendar(), settings.estimate_window_days)


@dataclass(frozen=True)
class Run:
    """What one run did: history facts read, parcels judged, and whether more wait."""

    facts: int
    judged: int
    more: bool


def learn(session: Session, learning: lanes.Learning, batch: int = BATCH) -> Run:
    after = lane_deliveries.mark(session)
    facts = lane_deliveries.delivered_facts(session, after, batch)
    if not facts:
        return Run(0, 0, more=False)
    parcels = lane_deliveries.parcels_to_judge(session, facts)
    rows = []
    by_carrier = sorted(parcels, key=lambda row: row[1].carrier)
    for carrier, group in groupby(by_carrier, key=lambda row: row[1].carrier):
        rows += _judged(session, carrier, list(group), learning)
    lane_deliveries.write(session, rows)
    lane_deliveries.set_mark(session, facts[-1][0])
    return Run(len(facts), len(rows), more=len(facts) == batch)


def _judged(session: Session, carrier: str, found: list, learning: lanes.Learning) -> list:
    """The carrier's parcels of this batch, judged against its deliveries before them: the
    newest MAX_SAMPLES before the earliest first scan, and all since (as a Book would have
    read at each one's first scan)."""
    parcels = [parcel for _, parcel in found]
    earliest = min(p.first_scan for p in parcels)
    latest = max(p.first_scan for p in parcels)
    window = timedelta(days=learning.window_days)
    teachers = lane_deliveries.newest(
        session, carrier, earliest - window, earliest, estimates.MAX_SAMPLES
    )
    teachers += lane_deliveries.newest(session, carrier, earliest, latest, None)
    outcomes = lane_accuracy.judge(
        learning.calendar,
        parcels,
        [*teachers, *parcels],
        learning.window_days,
        learning.min_samples,
        estimates.MAX_SAMPLES,
    )
    return [
        (shipment_id, parcel, parcel.transit_days(learning.calendar), on_time)
        for (shipment_id, parcel), on_time in zip(found, outcomes, strict=True)
    ]


def run_until_caught_up(
    sessions: sessionmaker[Session], learning: lanes.Learning, batch: int = BATCH
) -> int:
    """Runs, a transaction each, until no delivery is left to judge; returns how many."""
    judged = 0
    while True:
        with sessions.begin() as session:
            run = learn(session, learning, batch)
        judged += run.judged
        if not run.more:
            return judged
