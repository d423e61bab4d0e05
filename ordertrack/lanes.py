"""Delivery estimates learned by lane, pure: how many business days this shop's parcels took
from their first carrier scan to the door, on the same route, as p50 and p90.

A lane is the carrier and the destination: country, region (the order's province code) and
postcode prefix. The data has no service level (no provider reports one) and one origin (the
shop's), so neither is part of a lane. A narrow lane says more but has fewer deliveries, so
the estimate falls back, widest last, until one has MIN_SAMPLES:

    postcode prefix -> region -> country -> the carrier alone

The store (store/estimates.py) reads the deliveries; this module picks, counts and dates.
"""

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from ordertrack.business_days import Calendar

#: How far back deliveries count: long enough for a small shop, short enough to follow a
#: carrier's seasons.
WINDOW_DAYS = 90
#: Fewer deliveries than this say too little to put a date in front of a customer.
MIN_SAMPLES = 5
#: Postcodes share a route by their first characters (US ZIP3, UK outward code's start).
POSTCODE_PREFIX = 3

POSTCODE, REGION, COUNTRY, CARRIER = "postcode", "region", "country", "carrier"
#: Narrowest first: the order the estimate falls back in.
BASES = (POSTCODE, REGION, COUNTRY, CARRIER)


def postcode_prefix(postcode: str | None) -> str | None:
    """ "SW1A 1AA" -> "SW1": any case and spacing, None when too short to say anything."""
    text = "".join((postcode or "").split()).upper()
    return text[:POSTCODE_PREFIX] if len(text) >= POSTCODE_PREFIX else None


@dataclass(frozen=True)
class Lane:
    """Where a parcel goes, as far as the route matters (the carrier is matched apart)."""

    country: str | None = None
    region: str | None = None
    prefix: str | None = None

    @classmethod
    def of(cls, country: str | None, region: str | None, postcode: str | None) -> "Lane":
        country = (country or "").upper() or None
        return cls(country, (region or "").upper() or None, postcode_prefix(postcode))

    def key(self, basis: str) -> tuple | None:
        """What two lanes must share to count as one at `basis`; None: this lane cannot."""
        if basis == CARRIER:
            return ()
        if not self.country:
            return None
        if basis == COUNTRY:
            return (self.country,)
        if basis == REGION:
            return (self.country, self.region) if self.region else None
        return (self.country, self.prefix) if self.prefix else None


@dataclass(frozen=True)
class Delivery:
    """One delivered parcel of the window: its lane and its business days in transit."""

    lane: Lane
    days: int


@dataclass(frozen=True)
class LaneEstimate:
    """p50 and p90 business days from first scan to delivery, on which basis, from how many."""

    p50: int
    p90: int
    samples: int
    basis: str


def percentile(values: Sequence[int], share: float) -> int:
    """The nearest-rank percentile: the smallest value at least `share` of `values` are at
    or below. Always one of the values, so a customer is never told a day nobody took."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


def estimate(
    lane: Lane, deliveries: Iterable[Delivery], min_samples: int = MIN_SAMPLES
) -> LaneEstimate | None:
    """The narrowest basis with enough deliveries (the carrier's own, already matched)."""
    deliveries = list(deliveries)
    for basis in BASES:
        wanted = lane.key(basis)
        if wanted is None:
            continue
        days = [d.days for d in deliveries if d.lane.key(basis) == wanted]
        if len(days) >= min_samples:
            return LaneEstimate(percentile(days, 0.5), percentile(days, 0.9), len(days), basis)
    return None


def counted_percentile(counts: Mapping[int, int], share: float) -> int:
    """percentile() over {value: how many}: the same nearest rank, without the list."""
    samples = sum(counts.values())
    rank, seen = max(1, math.ceil(share * samples)), 0
    for value in sorted(v for v, n in counts.items() if n):
        seen += counts[value]
        if seen >= rank:
            return value
    raise ValueError("no values")


def learned_lanes(
    deliveries: Iterable[tuple[Lane, int, int]], min_samples: int = MIN_SAMPLES
) -> list[tuple[tuple, LaneEstimate]]:
    """Every lane these deliveries (one carrier's, as (lane, business days, how many)) teach,
    at each basis, with what it learned: (lane key, estimate), widest basis first. What a
    parcel on that lane is told."""
    days: dict[tuple[str, tuple], dict[int, int]] = {}
    for lane, took, count in deliveries:
        for basis in BASES:
            key = lane.key(basis)
            if key is not None:
                counts = days.setdefault((basis, key), {})
                counts[took] = counts.get(took, 0) + count
    found = [
        (key, _counted_estimate(counts, basis))
        for (basis, key), counts in days.items()
        if sum(counts.values()) >= min_samples
    ]
    return sorted(found, key=lambda f: (-BASES.index(f[1].basis), f[0]))


def _counted_estimate(counts: Mapping[int, int], basis: str) -> LaneEstimate:
    p50, p90 = counted_percentile(counts, 0.5), counted_percentile(counts, 0.9)
    return LaneEstimate(p50, p90, sum(counts.values()), basis)


def least_p90(deliveries: Iterable[Delivery], min_samples: int = MIN_SAMPLES) -> int | None:
    """The smallest p90 `estimate` can answer from these deliveries for any lane: the least
    over every basis and each of its lanes with enough deliveries. The delay check counts
    from it which parcels may be past a learned estimate. None when no lane has enough."""
    groups: dict[tuple, list[int]] = {}
    for delivery in deliveries:
        for basis in BASES:
            key = delivery.lane.key(basis)
            if key is not None:
                groups.setdefault((basis, *key), []).append(delivery.days)
    return min(
        (percentile(days, 0.9) for days in groups.values() if len(days) >= min_samples),
        default=None,
    )


def transit_days(calendar: Calendar, first_scan: datetime, delivered: datetime) -> int:
    """Whole business days from the first scan to the delivery (same day: 0)."""
    return calendar.count(first_scan, delivered) if delivered >= first_scan else 0


def dates(calendar: Calendar, start: datetime, learned: LaneEstimate) -> tuple[date, date]:
    """The first and last day it should arrive on, in the shop's zone, counted from `start`
    (the first scan, or now for a parcel the carrier has not scanned yet)."""
    first = calendar.local(calendar.add(start, learned.p50)).date()
    return first, calendar.local(calendar.add(start, learned.p90)).date()


def due(calendar: Calendar, last_day: date) -> datetime:
    """The end of the p90 day: late from the next midnight in the shop's zone."""
    return calendar.start_of_day(last_day + timedelta(days=1))


@dataclass(frozen=True)
class Learned:
    """A parcel's learned estimate as dates: what the page, the emails and the API show."""

    first: date
    last: date
    estimate: LaneEstimate
    #: False when counted from now: the carrier has not scanned the parcel yet.
    scanned: bool

    def document(self) -> dict:
        return {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "basis": self.estimate.basis,
            "samples": self.estimate.samples,
        }


def learned(
    calendar: Calendar, found: LaneEstimate, first_scan: datetime | None, now: datetime
) -> Learned:
    """Dates from the first scan; a parcel not scanned yet cannot leave before today."""
    first, last = dates(calendar, first_scan or now, found)
    return Learned(first, last, found, scanned=first_scan is not None)


@dataclass(frozen=True)
class Past:
    """A delivered parcel, for the accuracy count (lane_accuracy.py) and the estimates report:
    which carrier, where, scanned, delivered."""

    carrier: str
    lane: Lane
    first_scan: datetime
    delivered_at: datetime
    #: Business days in transit, when already counted (a stored lane delivery).
    days: int | None = None

    def transit_days(self, calendar: Calendar) -> int:
        if self.days is not None:
            return self.days
        return transit_days(calendar, self.first_scan, self.delivered_at)


@dataclass(frozen=True)
class Learning:
    """How this shop learns estimates: its business days, its window, enough deliveries."""

    calendar: Calendar = field(default_factory=Calendar)
    window_days: int = WINDOW_DAYS
    min_samples: int = MIN_SAMPLES
