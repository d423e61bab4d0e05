"""How good the learned estimates are, pure: the share of parcels delivered by the p90 date
they would have been given at their first scan (lanes.py learns the estimates).

Each parcel is held to the estimate its carrier's deliveries before its first scan gave,
within the window (and, as store/estimates.Book reads them, at most the newest
`max_samples`): counting it against deliveries that include itself, or came after, would
flatter. The periodic job (ordertrack/estimate_rollup.py) judges each delivery once.

One pass per carrier, not one per parcel: the parcels are judged in the order of their first
scans, and the deliveries that teach slide through the window beside them, kept as counts of
business days per lane (transit days are small whole numbers, so a percentile is a walk over
a few counts). Thousands of parcels take milliseconds.
"""

from collections import Counter, deque
from collections.abc import Iterable
from datetime import datetime, timedelta
from itertools import groupby

from ordertrack import lanes
from ordertrack.business_days import Calendar


class _Window:
    """The deliveries teaching now, counted by (basis, lane key) and by business days."""

    def __init__(self) -> None:
        self.held: deque[tuple[lanes.Past, int]] = deque()
        self.days: dict[tuple, Counter[int]] = {}

    def add(self, parcel: lanes.Past, took: int) -> None:
        self.held.append((parcel, took))
        for key in _keys(parcel.lane):
            self.days.setdefault(key, Counter())[took] += 1

    def keep(self, start: datetime, max_samples: int | None) -> None:
        """Let go of deliveries before `start`, and of the oldest beyond `max_samples`."""
        while self.held and (
            self.held[0][0].delivered_at < start
            or (max_samples is not None and len(self.held) > max_samples)
        ):
            parcel, took = self.held.popleft()
            for key in _keys(parcel.lane):
                self.days[key][took] -= 1

    def estimate(self, lane: lanes.Lane, min_samples: int) -> lanes.LaneEstimate | None:
        """lanes.estimate over the deliveries held: the narrowest basis with enough."""
        for basis in lanes.BASES:
            wanted = lane.key(basis)
            counts = self.days.get((basis, wanted)) if wanted is not None else None
            samples = sum(counts.values()) if counts else 0
            if samples >= min_samples:
                return lanes.LaneEstimate(
                    lanes.counted_percentile(counts, 0.5),
                    lanes.counted_percentile(counts, 0.9),
                    samples,
                    basis,
                )
        return None


def _keys(lane: lanes.Lane) -> list[tuple]:
    return [(basis, key) for basis in lanes.BASES if (key := lane.key(basis)) is not None]


def judge(
    calendar: Calendar,
    judged: list[lanes.Past],
    teachers: Iterable[lanes.Past],
    window_days: int = lanes.WINDOW_DAYS,
    min_samples: int = lanes.MIN_SAMPLES,
    max_samples: int | None = None,
) -> list[bool | None]:
    """For each of one carrier's `judged` parcels, in their order: delivered by the p90 date
    of the estimate the `teachers` delivered before its first scan gave, or None if they
    gave none. A parcel may teach the others; never itself, as it arrives after its scan."""
    queue = deque(sorted(teachers, key=lambda p: p.delivered_at))
    window = _Window()
    outcomes: list[bool | None] = [None] * len(judged)
    for i in sorted(range(len(judged)), key=lambda i: judged[i].first_scan):
        parcel = judged[i]
        while queue and queue[0].delivered_at < parcel.first_scan:
            teacher = queue.popleft()
            window.add(teacher, teacher.transit_days(calendar))
        window.keep(parcel.first_scan - timedelta(days=window_days), max_samples)
        found = window.estimate(parcel.lane, min_samples)
        if found is not None:
            _first, last = lanes.dates(calendar, parcel.first_scan, found)
            outcomes[i] = parcel.delivered_at < lanes.due(calendar, last)
    return outcomes


def accuracy(
    calendar: Calendar,
    parcels: Iterable[lanes.Past],
    window_days: int = lanes.WINDOW_DAYS,
    min_samples: int = lanes.MIN_SAMPLES,
    judged_from: datetime | None = None,
    max_samples: int | None = None,
) -> tuple[int, int]:
    """(delivered by the p90 date, parcels that had an estimate), every parcel teaching the
    others. Parcels delivered before `judged_from` only teach: they are not counted."""
    outcomes: list[bool | None] = []
    by_carrier = sorted(parcels, key=lambda p: p.carrier)
    for _, group in groupby(by_carrier, key=lambda p: p.carrier):
        teachers = list(group)
        judged = [p for p in teachers if judged_from is None or p.delivered_at >= judged_from]
        outcomes += judge(calendar, judged, teachers, window_days, min_samples, max_samples)
    return sum(o is True for o in outcomes), sum(o is not None for o in outcomes)
