"""The delay check's cutoffs, pure, as properties over random calendars (zones with daylight
saving, odd working weeks, holidays) and a controlled clock: a start late by the calendar is
always before its cutoff, the cutoff itself is never late, and no lane's learned p90 is
below the least one the check counts from (it bounds them; no lane need have it)."""

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ordertrack import delays, lanes
from ordertrack.business_days import Calendar
from ordertrack.lanes import Delivery, Lane

PROPERTY = settings(max_examples=300, deadline=None)
#: Zones with daylight saving at 02:00 (New York, Berlin), at midnight (Santiago, whose
#: midnight does not exist on its spring-forward day), half hours (Kolkata, Lord Howe's
#: half-hour shift) and the date line (Auckland).
ZONES = (
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "America/Santiago",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
)
#: Spring 2026: the US (8 March), Europe (29 March) and the southern hemisphere (5 April)
#: change their clocks in these weeks, Santiago again on 6 September.
FIRST = datetime(2026, 2, 20, tzinfo=UTC)
SPAN_HOURS = 24 * 220


def moments() -> st.SearchStrategy[datetime]:
    return st.integers(0, SPAN_HOURS * 60).map(lambda m: FIRST + timedelta(minutes=m))


@st.composite
def calendars(draw) -> Calendar:
    weekdays = draw(st.sets(st.integers(0, 6), min_size=1))
    off = draw(st.sets(st.integers(0, 240).map(lambda d: FIRST.date() + timedelta(days=d))))
    return Calendar.build(draw(st.sampled_from(ZONES)), sorted(weekdays), (), off)


def one_day_at_a_time(calendar: Calendar, start: datetime, days: int) -> datetime:
    """Adding business days by its definition: from the first business moment, step to the
    next business day, same time of day, `days` times."""
    moment = calendar.local(start)
    if not calendar.is_business_day(moment.date()):
        day = moment.date() + timedelta(days=1)
        while not calendar.is_business_day(day):
            day += timedelta(days=1)
        moment = calendar.start_of_day(day)
    for _ in range(days):
        day = moment.date() + timedelta(days=1)
        while not calendar.is_business_day(day):
            day += timedelta(days=1)
        moment = datetime.combine(day, moment.timetz().replace(tzinfo=None), calendar.zone)
    return moment


@PROPERTY
@given(calendars(), moments(), st.integers(0, 6))
def test_adding_business_days_is_stepping_one_day_at_a_time(calendar, start, days):
    assert calendar.add(start, days) == one_day_at_a_time(calendar, start, days)


@PROPERTY
@given(calendars(), moments(), moments(), st.integers(0, 6))
def test_a_start_late_by_the_calendar_is_before_its_cutoff(calendar, start, now, days):
    cutoff = delays.latest_start(calendar, now, days)
    if calendar.add(start, days) <= now:
        assert start < cutoff
    # ... and the cutoff is tight to the day: the cutoff itself is not late yet.
    assert calendar.add(cutoff, days) > now


@PROPERTY
@given(calendars(), moments(), st.integers(0, 6), st.integers(0, 6))
def test_every_kind_cuts_off_at_its_smallest_threshold(calendar, now, default, carrier):
    policy = delays.DelayPolicy(
        delays.Slas(default, default, default, default, default),
        {"ups": delays.Slas(carrier, carrier, carrier, carrier, carrier)},
    )
    limits = delays.cutoffs(now, calendar, policy, least_p90=carrier)
    least = min(default, carrier)
    assert limits.placed == delays.latest_start(calendar, now, default)
    assert (
        limits.moved == limits.labelled == limits.stuck == delays.latest_start(calendar, now, least)
    )
    assert limits.pickup == now - timedelta(days=least)
    assert limits.estimate_day == calendar.local(now).date()
    assert limits.scanned == delays.latest_start(calendar, now, carrier)
    assert delays.cutoffs(now, calendar, policy).scanned is None


LANES = st.builds(
    Lane.of,
    st.sampled_from(["US", "DE", None]),
    st.sampled_from(["NY", "CA", None]),
    st.sampled_from(["10001", "10002", "94103", None]),
)


@PROPERTY
@given(
    st.lists(st.builds(Delivery, LANES, st.integers(0, 12)), max_size=40),
    LANES,
    st.integers(1, 6),
)
def test_no_lane_learns_a_p90_below_the_least(deliveries, lane, min_samples):
    least = lanes.least_p90(deliveries, min_samples)
    found = lanes.estimate(lane, deliveries, min_samples)
    if found is not None:
        assert least is not None and found.p90 >= least
    if deliveries and least is None:
        assert all(lanes.estimate(d.lane, deliveries, min_samples) is None for d in deliveries)


def test_a_start_on_the_cutoff_day_waits_for_the_time_of_day():
    # Mon-Fri in UTC, now Wednesday 13 May 2026 10:00: two business days back is Monday.
    calendar = Calendar.build("UTC", (0, 1, 2, 3, 4), (), (date(2026, 5, 8),))
    now = datetime(2026, 5, 13, 10, 0, tzinfo=UTC)
    assert delays.latest_start(calendar, now, 2) == datetime(2026, 5, 12, tzinfo=UTC)
    assert calendar.add(datetime(2026, 5, 11, 9, 59, tzinfo=UTC), 2) <= now
    assert calendar.add(datetime(2026, 5, 11, 10, 1, tzinfo=UTC), 2) > now
    # Friday 8 May is a holiday: a Thursday start is late from Tuesday, whatever the hour.
    assert calendar.add(datetime(2026, 5, 7, 23, 0, tzinfo=UTC), 2) < now
