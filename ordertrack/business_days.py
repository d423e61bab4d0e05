"""Business days in the shop's own zone: which days the warehouse and carriers work, and
adding or counting them. Pure: the calendar is built once from the settings and passed in.

A deadline of n business days keeps the time of day: an order placed on Friday at 10:00 with
two business days to ship is late from Tuesday 10:00. Something that starts on a day off
starts at the beginning of the next business day (a Saturday order's first day is Monday).
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_BUSINESS_DAYS = "mon,tue,wed,thu,fri"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: A country code, with a subdivision if wanted: "US", "US-CA", "DE-BY".
_COUNTRY = re.compile(r"([A-Za-z]{2,3})(?:-([A-Za-z0-9]{1,4}))?")
#: No calendar has this many days off in a row; a loop past it means a bad calendar.
_MAX_DAYS_OFF = 60


class CalendarError(ValueError):
    """BUSINESS_DAYS or HOLIDAYS cannot be read; the message says which and why."""


def parse_weekdays(text: str) -> tuple[int, ...]:
    """ "mon,tue,wed" -> (0, 1, 2), as date.weekday() counts."""
    names = [part.strip().lower()[:3] for part in text.split(",") if part.strip()]
    if not names or any(name not in WEEKDAYS for name in names):
        raise CalendarError(f"BUSINESS_DAYS: expected day names like {DEFAULT_BUSINESS_DAYS}")
    return tuple(sorted({WEEKDAYS.index(name) for name in names}))


def parse_holidays(text: str) -> tuple[tuple[str, ...], tuple[date, ...]]:
    """ "US,2026-12-24" -> (("US",), (date(2026, 12, 24),)): country codes, then dates. A code
    the `holidays` package does not know stops start-up here, not on the first check."""
    countries, dates = [], []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if _ISO_DATE.fullmatch(part):
            try:
                dates.append(date.fromisoformat(part))
            except ValueError:
                raise CalendarError(f"HOLIDAYS: {part!r} is not a date") from None
        elif _COUNTRY.fullmatch(part):
            _country_table(part.upper())  # checked now
            countries.append(part.upper())
        else:
            raise CalendarError(f"HOLIDAYS: {part!r} is neither a country code nor a date")
    return tuple(countries), tuple(sorted(dates))


@cache
def _country_table(code: str):
    """A country's holiday table, one per process: building one takes milliseconds, and the
    delay check asks about days millions of times. The table adds years as they are asked."""
    import holidays  # only a shop with a country's holidays pays for the package (9 MB)

    country, _, subdivision = code.partition("-")
    try:
        return holidays.country_holidays(country, subdiv=subdivision or None)
    except NotImplementedError:
        raise CalendarError(f"HOLIDAYS: no holidays known for {code!r}") from None


@dataclass(frozen=True)
class Calendar:
    """The shop's working days: its zone, its weekdays and its days off."""

    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    dates_off: frozenset[date] = frozenset()
    countries: tuple[str, ...] = ()
    #: day -> the next business day after it, as found: the delay check steps through the
    #: same few days for hundreds of thousands of parcels.
    _next: dict[date, date] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    @classmethod
    def build(
        cls, zone: str, weekdays: Iterable[int], countries: Iterable[str], dates: Iterable[date]
    ) -> "Calendar":
        if not tuple(weekdays):
            raise CalendarError("BUSINESS_DAYS: at least one day must be a business day")
        return cls(ZoneInfo(zone), tuple(weekdays), frozenset(dates), tuple(countries))

    def is_business_day(self, day: date) -> bool:
        if day.weekday() not in self.weekdays or day in self.dates_off:
            return False
        return not any(day in _country_table(code) for code in self.countries)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def start_of_day(self, day: date) -> datetime:
        """Midnight of `day` in the shop's zone, as an aware time."""
        return datetime.combine(day, time(), self.zone)

    def add(self, start: datetime, days: int) -> datetime:
        """The moment `days` business days after `start` (same time of day, shop's zone)."""
        moment = self._first_moment(start)
        if days <= 0:
            return moment
        day = moment.date()
        for _ in range(days):
            day = self._next_business_day(day)
        return datetime.combine(day, moment.timetz().replace(tzinfo=None), self.zone)

    def count(self, start: datetime, end: datetime) -> int:
        """Whole business days from `start` to `end`: the largest n with add(start, n) <= end."""
        moment, days = self._first_moment(start), 0
        while (moment := self._step(moment)) <= end:
            days += 1
        return days

    def _first_moment(self, start: datetime) -> datetime:
        """`start` in the shop's zone, or the next business day's midnight if on a day off."""
        moment = self.local(start)
        if self.is_business_day(moment.date()):
            return moment
        return self.start_of_day(self._next_business_day(moment.date()))

    def _step(self, moment: datetime) -> datetime:
        day = self._next_business_day(moment.date())
        return datetime.combine(day, moment.timetz().replace(tzinfo=None), self.zone)

    def _next_business_day(self, day: date) -> date:
        found = self._next.get(day)
        if found is None:
            found = self._next[day] = self._find_next_business_day(day)
        return found

    def _find_next_business_day(self, day: date) -> date:
        for _ in range(_MAX_DAYS_OFF):
            day += timedelta(days=1)
            if self.is_business_day(day):
                return day
        raise CalendarError(f"no business day within {_MAX_DAYS_OFF} days after {day}")
