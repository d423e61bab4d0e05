"""Delay flags, pure: (order state, when it was placed, now, thresholds) -> the flags that
should be open. The store keeps them (store/flags.py); the periodic check and every applied
event compare the two, open what is new and clear what is no longer true.

| kind             | about    | open when                                                     |
|------------------|----------|---------------------------------------------------------------|
| `not_shipped`    | order    | received or processing > ship_days business days after placed |
| `no_first_scan`  | parcel   | labelled, no carrier scan > first_scan_days business days     |
| `no_movement`    | parcel   | in transit, no newer scan for no_movement_days business days  |
| `past_estimate`  | parcel   | not delivered by the end of its estimated day (shop's zone):  |
|                  |          | the carrier's date, or else the learned p90 day (lanes.py)     |
| `pickup_waiting` | parcel   | ready for pickup > pickup_days calendar days                  |
| `exception_open` | parcel   | exception or failed attempt, no progress in exception_days    |

A flag's `since` is the moment its deadline passed, so evaluating again gives the same flag.
Nothing is flagged on an order that is over (delivered, completed, cancelled, refunded).

`cutoffs` turns the thresholds into instants, once per check, so the store can pick in SQL
the few orders that may be late (store/delay_candidates.py) instead of evaluating them all:
each deadline is "n business days after a start", which only moves later as the start does,
so "late now" implies "started before the cutoff". The cutoffs only narrow; `open_flags`
decides.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta

from ordertrack.business_days import Calendar
from ordertrack.facts import carrier_code
from ordertrack.lanes import Learned
from ordertrack.lifecycle.state import OrderState, ShipmentState
from ordertrack.statuses import OrderStatus, ShipmentStatus

NOT_SHIPPED = "not_shipped"
NO_FIRST_SCAN = "no_first_scan"
NO_MOVEMENT = "no_movement"
PAST_ESTIMATE = "past_estimate"
PICKUP_WAITING = "pickup_waiting"
EXCEPTION_OPEN = "exception_open"
KINDS = (NOT_SHIPPED, NO_FIRST_SCAN, NO_MOVEMENT, PAST_ESTIMATE, PICKUP_WAITING, EXCEPTION_OPEN)
#: Each kind in words, for people (the console, the digest): the code names it for machines.
WORDS = {
    NOT_SHIPPED: "Not shipped in time",
    NO_FIRST_SCAN: "No carrier scan after the label",
    NO_MOVEMENT: "No movement in transit",
    PAST_ESTIMATE: "Past its estimated delivery",
    PICKUP_WAITING: "Waiting too long at the pickup point",
    EXCEPTION_OPEN: "Carrier exception not resolved",
}
#: The parcel of an order's own flag (not_shipped), as the outbox names the order's news.
ORDER = ""
#: Order statuses whose orders can be late: the rest are over.
OPEN_STATUSES = tuple(
    s
    for s in OrderStatus
    if s
    not in (
        OrderStatus.DELIVERED,
        OrderStatus.COMPLETED,
        OrderStatus.CANCELLED,
        OrderStatus.REFUNDED,
        OrderStatus.RETURNED,
    )
)
_ARRIVED = (ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED, ShipmentStatus.CANCELLED)


@dataclass(frozen=True)
class Slas:
    """How long each stage may take: business days, except pickup (calendar days: the
    pickup point's own clock runs on weekends)."""

    ship_days: int = 2
    first_scan_days: int = 2
    no_movement_days: int = 4
    pickup_days: int = 5
    exception_days: int = 2


SLA_KEYS = tuple(f.name for f in fields(Slas))


@dataclass(frozen=True)
class DelayPolicy:
    """The thresholds, a carrier's own where the policy file gives them, and which flags
    the customer hears of (the merchant hears of every one)."""

    defaults: Slas = Slas()
    carriers: Mapping[str, Slas] = field(default_factory=dict)
    tell_customer: frozenset[str] = frozenset({NO_MOVEMENT, PAST_ESTIMATE})

    def for_carrier(self, carrier: str | None) -> Slas:
        return self.carriers.get(carrier_code(carrier) or "", self.defaults)


@dataclass(frozen=True)
class Flag:
    """A delay: what kind, about which parcel (ORDER for the order), since when, and why."""

    kind: str
    parcel: str
    since: datetime
    detail: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.parcel, self.kind)


def open_flags(
    state: OrderState,
    placed_at: datetime | None,
    now: datetime,
    calendar: Calendar,
    policy: DelayPolicy,
    learned: Mapping[str, Learned] | None = None,
) -> list[Flag]:
    """The flags that should be open now. `placed_at`: the order's earliest platform time;
    `learned`: estimates from past deliveries by shipment key, for parcels with no carrier
    date (store/estimates.py)."""
    learned = learned or {}
    if state.status not in OPEN_STATUSES:
        return []
    candidates = []
    if state.status in (OrderStatus.RECEIVED, OrderStatus.PROCESSING) and placed_at:
        candidates.append(_not_shipped(placed_at, calendar, policy.defaults))
    for parcel in state.shipments:
        if parcel.live:
            slas = policy.for_carrier(parcel.carrier or parcel.reported_carrier)
            candidates += _parcel_flags(parcel, calendar, slas, learned.get(parcel.key))
    return [flag for flag in candidates if flag is not None and flag.since <= now]


def _not_shipped(placed_at: datetime, calendar: Calendar, slas: Slas) -> Flag:
    since = calendar.add(placed_at, slas.ship_days)
    detail = f"not shipped {slas.ship_days} business days after the order ({_day(placed_at)})"
    return Flag(NOT_SHIPPED, ORDER, since, detail)


def _parcel_flags(
    parcel: ShipmentState, calendar: Calendar, slas: Slas, learned: Learned | None
) -> list[Flag | None]:
    return [
        _no_first_scan(parcel, calendar, slas),
        _no_movement(parcel, calendar, slas),
        _past_estimate(parcel, calendar, learned),
        _pickup_waiting(parcel, slas),
        _exception_open(parcel, calendar, slas),
    ]


def _no_first_scan(parcel: ShipmentState, calendar: Calendar, slas: Slas) -> Flag | None:
    start = parcel.labelled_at or parcel.fulfilled_at
    if parcel.status is not ShipmentStatus.LABEL_CREATED or not parcel.tracking_number or not start:
        return None
    since = calendar.add(start, slas.first_scan_days)
    detail = f"labelled {_day(start)}, no carrier scan in {slas.first_scan_days} business days"
    return Flag(NO_FIRST_SCAN, parcel.key, since, detail)


def _no_movement(parcel: ShipmentState, calendar: Calendar, slas: Slas) -> Flag | None:
    if parcel.status is not ShipmentStatus.IN_TRANSIT or not parcel.status_at:
        return None
    since = calendar.add(parcel.status_at, slas.no_movement_days)
    detail = (
        f"in transit, last scan {_day(parcel.status_at)}, "
        f"none since in {slas.no_movement_days} business days"
    )
    return Flag(NO_MOVEMENT, parcel.key, since, detail)


def _past_estimate(
    parcel: ShipmentState, calendar: Calendar, learned: Learned | None
) -> Flag | None:
    """The carrier's date wins; a learned one counts only from a real first scan (before it,
    the estimate moves with the clock and `no_first_scan` is the flag that says so)."""
    if parcel.status in _ARRIVED:
        return None
    if parcel.est_delivery:
        day, words = parcel.est_delivery, "estimated"
    elif learned is not None and learned.scanned:
        day, words = learned.last, f"learned estimate (p90, {learned.estimate.basis})"
    else:
        return None
    since = calendar.start_of_day(day + timedelta(days=1))
    return Flag(
        PAST_ESTIMATE, parcel.key, since, f"{words} {day.isoformat()}, now {parcel.status.value}"
    )


def _pickup_waiting(parcel: ShipmentState, slas: Slas) -> Flag | None:
    if parcel.status is not ShipmentStatus.AVAILABLE_FOR_PICKUP or not parcel.status_at:
        return None
    since = parcel.status_at + timedelta(days=slas.pickup_days)
    detail = f"ready for pickup since {_day(parcel.status_at)}, over {slas.pickup_days} days"
    return Flag(PICKUP_WAITING, parcel.key, since, detail)


def _exception_open(parcel: ShipmentState, calendar: Calendar, slas: Slas) -> Flag | None:
    stuck = (ShipmentStatus.EXCEPTION, ShipmentStatus.DELIVERY_FAILED)
    if parcel.status not in stuck or not parcel.status_at:
        return None
    since = calendar.add(parcel.status_at, slas.exception_days)
    detail = (
        f"{parcel.status.value} {_day(parcel.status_at)}"
        f"{f' ({parcel.detail})' if parcel.detail else ''}, "
        f"no progress in {slas.exception_days} business days"
    )
    return Flag(EXCEPTION_OPEN, parcel.key, since, detail)


def _day(moment: datetime) -> str:
    return moment.date().isoformat()


@dataclass(frozen=True)
class Changes:
    """What to do to the stored flags: open these, clear those (by their ids)."""

    to_open: list[Flag]
    to_clear: list[int]


def compare(should: list[Flag], stored: Mapping[tuple[str, str], int]) -> Changes:
    """Stored open flags (by (parcel, kind) -> id) against those that should be open."""
    wanted = {flag.key for flag in should}
    return Changes(
        to_open=[flag for flag in should if flag.key not in stored],
        to_clear=[flag_id for key, flag_id in stored.items() if key not in wanted],
    )


@dataclass(frozen=True)
class Cutoffs:
    """The starts that may be late at one moment, per kind: a parcel or order whose start is
    not before its kind's cutoff cannot be flagged now (the converse need not hold). The
    smallest threshold of the defaults and every carrier's own is used, so one cutoff covers
    all carriers."""

    #: not_shipped: placed before this.
    placed: datetime
    #: no_first_scan: labelled (else fulfilled) before this.
    labelled: datetime
    #: no_movement: last scan before this.
    moved: datetime
    #: exception_open: the exception or failed attempt before this.
    stuck: datetime
    #: pickup_waiting: ready for pickup at or before this.
    pickup: datetime
    #: past_estimate: the carrier's estimated day before this day.
    estimate_day: date
    #: past_estimate from a learned estimate: first scanned before this; None when no lane
    #: has an estimate (no parcel can be late by one).
    scanned: datetime | None


def cutoffs(
    now: datetime, calendar: Calendar, policy: DelayPolicy, least_p90: int | None = None
) -> Cutoffs:
    """The cutoffs at `now`. `least_p90`: the smallest p90 of any lane that has an estimate
    (store/estimates.py), None when none has."""
    slas = (policy.defaults, *policy.carriers.values())

    def least(name: str) -> int:
        return min(getattr(s, name) for s in slas)

    return Cutoffs(
        placed=latest_start(calendar, now, policy.defaults.ship_days),
        labelled=latest_start(calendar, now, least("first_scan_days")),
        moved=latest_start(calendar, now, least("no_movement_days")),
        stuck=latest_start(calendar, now, least("exception_days")),
        pickup=now - timedelta(days=least("pickup_days")),
        estimate_day=calendar.local(now).date(),
        scanned=None if least_p90 is None else latest_start(calendar, now, least_p90),
    )


def latest_start(calendar: Calendar, now: datetime, days: int) -> datetime:
    """An instant X with: calendar.add(start, days) <= now implies start < X.

    Why it holds: add(start, days) falls on the `days`-th business day after the first
    business day on or after start's date (D), at some time of that day; that day only moves
    later as D does. Let D0 be the latest business day whose `days`-th successor is not after
    today. If add(start, days) <= now, its day is not after today, so D <= D0, so start's own
    date is at most D0: start is before midnight after D0, which is X. Only dates are
    compared, so time-of-day shifts (daylight saving) cannot break it; X errs late by at most
    part of a day, which the rules then settle.
    """
    today = calendar.local(now).date()
    day = today
    while not (
        calendar.is_business_day(day)
        and calendar.local(calendar.add(calendar.start_of_day(day), days)).date() <= today
    ):
        day -= timedelta(days=1)
    return calendar.start_of_day(day + timedelta(days=1))
