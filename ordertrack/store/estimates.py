"""Delivery estimates learned from this shop's own recent deliveries, for parcels whose
carrier gave no date: the middle half (25th to 75th percentile) of how many days a carrier
took from label to door over the last WINDOW_DAYS."""

import math
import statistics
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ordertrack.statuses import ShipmentStatus
from ordertrack.store.models import Shipment
from ordertrack.tracking.page import DayRange

#: How far back deliveries count: long enough for a small shop, short enough to follow a
#: carrier's seasons.
WINDOW_DAYS = 90
#: Fewer deliveries than this say too little to put a date in front of a customer.
MIN_SAMPLES = 5
#: The newest deliveries are enough; a big shop's whole quarter is not needed.
MAX_SAMPLES = 1000


def day_range(days: Sequence[float]) -> DayRange | None:
    """The 25th-75th percentile of `days`, widened to whole days; None with too few."""
    if len(days) < MIN_SAMPLES:
        return None
    q1, _median, q3 = statistics.quantiles(days, n=4, method="inclusive")
    low = max(0, math.floor(q1))
    return DayRange(low=low, high=max(low, math.ceil(q3)), samples=len(days))


def learned_range(session: Session, carrier: str, now: datetime) -> DayRange | None:
    """What this shop's deliveries with `carrier` (as the platform names it, any case) took."""
    query = (
        select(Shipment.labelled_at, Shipment.fulfilled_at, Shipment.status_at)
        .where(
            Shipment.status == ShipmentStatus.DELIVERED.value,
            Shipment.status_at >= now - timedelta(days=WINDOW_DAYS),
            func.lower(Shipment.carrier) == carrier.lower(),
            Shipment.cancelled.is_(False),
            Shipment.removed.is_(False),
        )
        .order_by(Shipment.status_at.desc())
        .limit(MAX_SAMPLES)
    )
    days = [
        (delivered - start).total_seconds() / 86400
        for labelled, fulfilled, delivered in session.execute(query)
        if (start := labelled or fulfilled) is not None and delivered >= start
    ]
    return day_range(days)
