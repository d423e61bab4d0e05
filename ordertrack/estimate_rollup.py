"""The use case "learn estimates": judge the parcels delivered since the last run, and keep
them in `lane_deliveries` (store/estimate_models.py) for the estimates report.

Each run takes the next BATCH parcels delivered after the cursor it left, in the order they
were delivered, and judges each: was it delivered by the p90 date of the estimate it would
have had at its first scan (ordertrack/lane_accuracy.py)? What teaches is the carrier's
deliveries judged before (so, delivered before), and the batch's own. All in one
transaction with the new cursor, so a run that fails leaves nothing half done, and each
delivery is judged once.

Deliveries are judged a LAG after they happen, so a carrier's late report still finds its
place in the order; one reported later than that is left out. A fresh database catches up
over a few runs (a batch each, oldest first). The sweeper runs this with the delay check,
every DELAY_CHECK_SECONDS, and at every sweep while it catches up.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

from sqlalchemy.orm import Session, sessionmaker

from ordertrack import lane_accuracy, lanes
from ordertrack.settings import Settings
from ordertrack.store import estimates, lane_deliveries

#: Deliveries judged per run: a few seconds of work at most.
BATCH = 2000
#: How long after a delivery it is judged: time for a carrier's late report to arrive.
LAG = timedelta(hours=6)


def learning_of(settings: Settings) -> lanes.Learning:
    """SHOP_TIMEZONE, BUSINESS_DAYS and HOLIDAYS count the days; ESTIMATE_WINDOW_DAYS."""
    return lanes.Learning(settings.calendar(), settings.estimate_window_days)


@dataclass(frozen=True)
class Run:
    """What one run did: deliveries read, parcels judged, and whether more wait."""

    delivered: int
    judged: int
    more: bool


def learn(session: Session, learning: lanes.Learning, now: datetime, batch: int = BATCH) -> Run:
    after = lane_deliveries.cursor(session)
    found = lane_deliveries.next_deliveries(session, after, now - LAG, batch)
    if not found:
        return Run(0, 0, more=False)
    parcels = [(shipment_id, parcel) for shipment_id, _, parcel in found if parcel is not None]
    rows = []
    by_carrier = sorted(parcels, key=lambda row: row[1].carrier)
    for carrier, group in groupby(by_carrier, key=lambda row: row[1].carrier):
        rows += _judged(session, carrier, list(group), learning)
    lane_deliveries.write(session, rows)
    last_id, last_at, _ = found[-1]
    lane_deliveries.set_cursor(session, last_at, last_id)
    return Run(len(found), len(rows), more=len(found) == batch)


def _judged(session: Session, carrier: str, found: list, learning: lanes.Learning) -> list:
    """The carrier's parcels of this batch, judged against its deliveries before them: the
    newest MAX_SAMPLES before the earliest first scan, and all since (as a Book would have
    read at each one's first scan). The batch was delivered over a short time, so "since"
    is a few days of deliveries, more only for a parcel that took weeks."""
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
    sessions: sessionmaker[Session],
    learning: lanes.Learning,
    now: datetime,
    batch: int = BATCH,
    progress: Callable[[int], object] | None = None,
) -> int:
    """Runs, a transaction each, until no delivery is left to judge; returns how many."""
    judged = 0
    while True:
        with sessions.begin() as session:
            run = learn(session, learning, now, batch)
        judged += run.judged
        if progress is not None:
            progress(judged)
        if not run.more:
            return judged


def forget(session: Session) -> None:
    """Every judgement and the cursor: the next runs judge every delivery again (after the
    shop's calendar or window changed, or to check them)."""
    lane_deliveries.forget(session)
