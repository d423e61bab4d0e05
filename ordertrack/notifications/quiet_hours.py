"""Quiet hours: a nightly window, on the recipient's wall clock, in which no text is sent.

A message due inside the window is deferred to the moment it ends, never dropped. The window
is wall-clock time in the customer's zone, so the end is found on the local calendar and only
then turned into a UTC instant: "08:00" on a DST-change day is a different UTC hour than the
day before, an end that falls in the spring-forward gap is the moment the clocks jump past
it, and an end that happens twice in the autumn is the next of the two.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_RANGE = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")

#: What turns quiet hours off.
OFF = ("", "off")


class QuietHoursError(ValueError):
    """A quiet-hours range that cannot be read."""


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time

    @classmethod
    def parse(cls, text: str | None) -> "QuietHours | None":
        """'21:00-08:00' (across midnight) or '13:00-14:00'; None for 'off' or ''."""
        text = (text or "").strip()
        if text.lower() in OFF:
            return None
        match = _RANGE.fullmatch(text)
        if match is None:
            raise QuietHoursError(f"{text!r} is not a range like '21:00-08:00' (or 'off')")
        hours_and_minutes = [int(part) for part in match.groups()]
        try:
            start, end = time(*hours_and_minutes[:2]), time(*hours_and_minutes[2:])
        except ValueError:
            raise QuietHoursError(f"{text!r} has a time outside 00:00-23:59") from None
        if start == end:
            raise QuietHoursError(f"{text!r} starts and ends at the same time (use 'off')")
        return cls(start, end)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def contains(self, wall: time) -> bool:
        """True when a local wall-clock time is quiet (the start is, the end is not)."""
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end

    def next_allowed(self, now_utc: datetime, tz: ZoneInfo) -> datetime:
        """`now_utc` when it is not quiet in `tz`, else the UTC instant the quiet period ends."""
        if now_utc.tzinfo is None:
            raise ValueError("now_utc must be timezone-aware")
        now_utc = now_utc.astimezone(UTC)
        local = now_utc.astimezone(tz)
        if not self.contains(local.time()):
            return now_utc
        day: date = local.date()
        if self.start > self.end and local.time() >= self.start:
            day += timedelta(days=1)  # in the evening part: the window ends tomorrow morning
        return _first_instant_at(datetime.combine(day, self.end), tz, not_before=now_utc)


def _first_instant_at(wall: datetime, tz: ZoneInfo, *, not_before: datetime) -> datetime:
    """The first UTC instant, not before `not_before`, at which the clock in `tz` shows
    `wall` or later."""
    instants = sorted({wall.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)})
    if _wall(instants[0], tz) != wall:  # `wall` is skipped by a spring-forward gap
        return _clock_reaches(wall, tz, instants[0], instants[-1])
    # Ambiguous (the autumn's repeated hour) when there are two: the next one.
    return next((i for i in instants if i >= not_before), instants[-1])


def _clock_reaches(wall: datetime, tz: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The instant the clock jumps past `wall`, between an instant whose clock shows less and
    one whose clock shows more. Wall time only moves forward across a gap, so bisect."""
    low, high = int(before.timestamp()), int(after.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if _wall(datetime.fromtimestamp(middle, UTC), tz) >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)
