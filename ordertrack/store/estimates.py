"""Delivery estimates learned from this shop's own deliveries by lane (ordertrack/lanes.py
has the rules), for parcels whose carrier gave no date: the queries, and a `Book` that reads
each carrier's deliveries once however many parcels ask.

A delivery counts from the parcel's first carrier scan (the first tracking report past
"label created") to its delivery; one delivered without any earlier scan says nothing about
transit time and is left out.
"""

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ordertrack import lanes
from ordertrack.business_days import Calendar
from ordertrack.lifecycle.state import ShipmentState
from ordertrack.statuses import ShipmentStatus
from ordertrack.store.models import History, Order, Shipment

#: The newest deliveries are enough; a big shop's whole quarter is not needed.
MAX_SAMPLES = 2000
#: Reports that mean the carrier has the parcel in hand.
SCANNED = tuple(
    s.value
    for s in (
        ShipmentStatus.IN_TRANSIT,
        ShipmentStatus.OUT_FOR_DELIVERY,
        ShipmentStatus.DELIVERY_FAILED,
        ShipmentStatus.AVAILABLE_FOR_PICKUP,
        ShipmentStatus.EXCEPTION,
    )
)
#: A parcel's journey is over: no estimate.
_ARRIVED = (ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED, ShipmentStatus.CANCELLED)


def first_scan_of(order_id, key):
    return (
        select(func.min(History.occurred_at))
        .where(
            History.order_id == order_id,
            History.shipment_key == key,
            History.kind == "tracking",
            History.status.in_(SCANNED),
        )
        .scalar_subquery()
    )


def delivered(
    session: Session, carrier: str, since: datetime, until: datetime, limit: int = MAX_SAMPLES
) -> list[lanes.Past]:
    """The carrier's (any case) deliveries between `since` and `until`, newest first. The
    first scan is the parcel's milestone (store/milestones.py), the earliest scan its history
    holds: read from the row, not found again in the history for each delivery."""
    query = (
        select(
            Shipment.status_at,
            Order.country_code,
            Order.province_code,
            Order.postcode,
            Shipment.first_scan_at,
        )
        .join(Order, Order.id == Shipment.order_id)
        .where(
            Shipment.status == ShipmentStatus.DELIVERED.value,
            Shipment.status_at >= since,
            Shipment.status_at < until,
            func.lower(Shipment.carrier) == carrier.lower(),
            Shipment.cancelled.is_(False),
            Shipment.removed.is_(False),
        )
        .order_by(Shipment.status_at.desc())
        .limit(limit)
    )
    return [
        lanes.Past(carrier.lower(), lanes.Lane.of(country, region, postcode), scan, at)
        for at, country, region, postcode, scan in session.execute(query)
        if scan is not None and scan < at
    ]


def first_scans(session: Session, order_ids: Iterable[int]) -> dict[tuple[int, str], datetime]:
    """(order id, shipment key) -> its first carrier scan, for parcels that have one: the
    milestone kept on the parcel's row (store/milestones.py), not a walk of the history."""
    ids = list(order_ids)
    if not ids:
        return {}
    query = select(Shipment.order_id, Shipment.key, Shipment.first_scan_at).where(
        Shipment.order_id.in_(ids), Shipment.first_scan_at.is_not(None)
    )
    return {(order_id, key): at for order_id, key, at in session.execute(query)}


def wants_estimate(parcel: ShipmentState, today: date | None = None) -> bool:
    """On its way, with a carrier to learn from, and no date from the carrier (or, when
    `today` is given, none still ahead: a passed date leaves room for a new estimate)."""
    no_date = not parcel.est_delivery or (today is not None and parcel.est_delivery < today)
    return parcel.live and bool(parcel.carrier) and no_date and parcel.status not in _ARRIVED


class RecentDeliveries:
    """Each carrier's deliveries over the window, shared by the Books of one process for
    `ttl` seconds.

    Why: an email for a parcel without the carrier's date reads up to MAX_SAMPLES deliveries
    and counts each one's business days; at a large shop that was most of the email's cost,
    and grew with the shop (bench.history). Estimates move by the day, so the sender reads
    them again once a minute, not once per email."""

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self._kept: dict[tuple, tuple[float, list[lanes.Delivery]]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple, load: Callable[[], list[lanes.Delivery]]) -> list[lanes.Delivery]:
        now = time.monotonic()
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and now - kept[0] < self.ttl:
            return kept[1]
        found = load()
        with self._lock:
            self._kept[key] = (now, found)
        return found


@dataclass
class Book:
    """Lane estimates for one read (a page, an email, a delay check): each carrier's
    deliveries over the window are fetched once and kept (and, given `shared`, kept for the
    process a while)."""

    calendar: Calendar
    now: datetime
    window_days: int = lanes.WINDOW_DAYS
    min_samples: int = lanes.MIN_SAMPLES
    shared: RecentDeliveries | None = None
    _by_carrier: dict[str, list[lanes.Delivery]] = field(default_factory=dict)

    def estimate(self, session: Session, carrier: str, lane: lanes.Lane):
        return lanes.estimate(lane, self._deliveries(session, carrier), self.min_samples)

    def _deliveries(self, session: Session, carrier: str) -> list[lanes.Delivery]:
        code = carrier.lower()
        if code not in self._by_carrier:
            load = partial(self._read, session, carrier)
            key = (code, self.window_days)
            self._by_carrier[code] = self.shared.get(key, load) if self.shared else load()
        return self._by_carrier[code]

    def _read(self, session: Session, carrier: str) -> list[lanes.Delivery]:
        since = self.now - timedelta(days=self.window_days)
        return [
            lanes.Delivery(p.lane, lanes.transit_days(self.calendar, p.first_scan, p.delivered_at))
            for p in delivered(session, carrier, since, self.now)
        ]

    def least_p90(self, session: Session) -> int | None:
        """The smallest p90 any parcel's estimate can have, from every carrier delivering in
        the window (read now, and kept): no parcel is late by a learned estimate sooner than
        this many business days after its first scan. None when no lane has an estimate."""
        since = self.now - timedelta(days=self.window_days)
        carriers = session.scalars(
            select(func.lower(Shipment.carrier))
            .where(
                Shipment.status == ShipmentStatus.DELIVERED.value,
                Shipment.status_at >= since,
                Shipment.status_at < self.now,
                Shipment.carrier.is_not(None),
            )
            .distinct()
        ).all()
        found = [
            least
            for carrier in carriers
            if (least := lanes.least_p90(self._deliveries(session, carrier), self.min_samples))
            is not None
        ]
        return min(found, default=None)

    def for_order(
        self,
        session: Session,
        order: Order,
        parcels: Iterable[ShipmentState],
        scans: dict[tuple[int, str], datetime] | None = None,
        today: date | None = None,
    ) -> dict[str, lanes.Learned]:
        """shipment key -> learned dates, for the order's parcels that want one and have a
        lane with enough deliveries. `scans`: first_scans() already read for a batch;
        `today`: also for parcels whose carrier's date has passed (wants_estimate)."""
        wanted = [p for p in parcels if wants_estimate(p, today)]
        if not wanted:
            return {}
        if scans is None:
            scans = first_scans(session, [order.id])
        lane = lanes.Lane.of(order.country_code, order.province_code, order.postcode)
        found = {}
        for parcel in wanted:
            estimate = self.estimate(session, parcel.carrier or "", lane)
            if estimate is not None:
                scan = scans.get((order.id, parcel.key))
                found[parcel.key] = lanes.learned(self.calendar, estimate, scan, self.now)
        return found
