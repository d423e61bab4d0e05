"""Quiet hours for texts: deferred to the end of the window in the customer's zone, never
dropped, and right on the days the clocks change."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordertrack.notifications.quiet_hours import QuietHours, QuietHoursError

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = QuietHours.parse("21:00-08:00")
LUNCH = QuietHours.parse("13:00-14:00")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_range_across_midnight_is_read():
    assert QuietHours.parse("21:00-08:00") == QuietHours(time(21), time(8))
    assert str(NIGHT) == "21:00-08:00"


def test_a_range_within_a_day_and_loose_spacing_are_read():
    assert QuietHours.parse(" 13:00 - 14:30 ") == QuietHours(time(13), time(14, 30))
    assert QuietHours.parse("9:00-9:30") == QuietHours(time(9), time(9, 30))


@pytest.mark.parametrize("text", ["off", "OFF", "", "  ", None])
def test_off_or_empty_means_no_quiet_hours(text):
    assert QuietHours.parse(text) is None


@pytest.mark.parametrize(
    "text", ["25:00-08:00", "21:60-08:00", "21:00", "9pm-8am", "21:00-21:00", "21-08"]
)
def test_a_bad_range_is_refused_with_the_text(text):
    with pytest.raises(QuietHoursError, match=text):
        QuietHours.parse(text)


def test_outside_quiet_hours_a_text_goes_now():
    now = utc(2026, 6, 10, 16, 0)  # 12:00 in New York
    assert NIGHT.next_allowed(now, NEW_YORK) == now


def test_late_evening_is_deferred_to_eight_the_next_morning():
    now = utc(2026, 6, 11, 3, 0)  # 23:00 on the 10th in New York (EDT, UTC-4)
    assert NIGHT.next_allowed(now, NEW_YORK) == utc(2026, 6, 11, 12, 0)


def test_small_hours_are_deferred_to_eight_the_same_morning():
    now = utc(2026, 6, 11, 7, 0)  # 03:00 in New York
    assert NIGHT.next_allowed(now, NEW_YORK) == utc(2026, 6, 11, 12, 0)


def test_the_start_is_quiet_and_the_end_is_not():
    assert NIGHT.next_allowed(utc(2026, 6, 11, 1, 0), NEW_YORK) == utc(2026, 6, 11, 12, 0)
    assert NIGHT.next_allowed(utc(2026, 6, 11, 12, 0), NEW_YORK) == utc(2026, 6, 11, 12, 0)


def test_a_window_within_the_day_ends_the_same_day():
    assert LUNCH.next_allowed(utc(2026, 6, 10, 17, 30), NEW_YORK) == utc(2026, 6, 10, 18, 0)
    assert LUNCH.next_allowed(utc(2026, 6, 10, 16, 59), NEW_YORK) == utc(2026, 6, 10, 16, 59)
    assert LUNCH.next_allowed(utc(2026, 6, 10, 18, 0), NEW_YORK) == utc(2026, 6, 10, 18, 0)


def test_the_same_instant_is_quiet_in_one_zone_and_not_in_another():
    now = utc(2026, 6, 10, 20, 0)  # 16:00 in New York, 22:00 in Berlin
    assert NIGHT.next_allowed(now, NEW_YORK) == now
    assert NIGHT.next_allowed(now, BERLIN) == utc(2026, 6, 11, 6, 0)


def test_spring_forward_night_ends_at_eight_daylight_time():
    # 22:00 EST on March 7th; the clocks go forward at 02:00, so 08:00 is EDT (UTC-4).
    assert NIGHT.next_allowed(utc(2026, 3, 8, 3, 0), NEW_YORK) == utc(2026, 3, 8, 12, 0)
    # 01:30 EST, before the change, and 03:30 EDT, after it: the same 08:00.
    assert NIGHT.next_allowed(utc(2026, 3, 8, 6, 30), NEW_YORK) == utc(2026, 3, 8, 12, 0)
    assert NIGHT.next_allowed(utc(2026, 3, 8, 7, 30), NEW_YORK) == utc(2026, 3, 8, 12, 0)


def test_fall_back_night_ends_at_eight_standard_time():
    # 22:00 EDT on October 31st; the clocks go back at 02:00, so 08:00 is EST (UTC-5).
    assert NIGHT.next_allowed(utc(2026, 11, 1, 2, 0), NEW_YORK) == utc(2026, 11, 1, 13, 0)
    # 01:30 on both sides of the change.
    assert NIGHT.next_allowed(utc(2026, 11, 1, 5, 30), NEW_YORK) == utc(2026, 11, 1, 13, 0)
    assert NIGHT.next_allowed(utc(2026, 11, 1, 6, 30), NEW_YORK) == utc(2026, 11, 1, 13, 0)


def test_an_end_skipped_by_spring_forward_is_the_moment_the_clocks_jump():
    window = QuietHours.parse("22:00-02:30")  # 02:30 does not happen on March 8th
    now = utc(2026, 3, 8, 5, 0)  # 00:00 EST
    assert window.next_allowed(now, NEW_YORK) == utc(2026, 3, 8, 7, 0)  # 03:00 EDT


def test_an_end_that_happens_twice_is_the_next_of_the_two():
    window = QuietHours.parse("22:00-01:30")  # 01:30 happens twice on November 1st
    first_pass = utc(2026, 11, 1, 4, 0)  # 00:00 EDT
    assert window.next_allowed(first_pass, NEW_YORK) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    second_pass = utc(2026, 11, 1, 6, 10)  # 01:10 EST: the clock reads quiet again
    assert window.next_allowed(second_pass, NEW_YORK) == utc(2026, 11, 1, 6, 30)  # 01:30 EST


def test_berlin_summer_time_starts_during_the_night():
    # 23:00 CET on March 28th; 08:00 on the 29th is CEST (UTC+2).
    assert NIGHT.next_allowed(utc(2026, 3, 28, 22, 0), BERLIN) == utc(2026, 3, 29, 6, 0)
    skipped = QuietHours.parse("23:00-02:30")  # 02:30 does not happen in Berlin that night
    assert skipped.next_allowed(utc(2026, 3, 28, 23, 30), BERLIN) == utc(2026, 3, 29, 1, 0)


def test_berlin_summer_time_ends_during_the_night():
    # 23:00 CEST on October 24th; 08:00 on the 25th is CET (UTC+1).
    assert NIGHT.next_allowed(utc(2026, 10, 24, 21, 0), BERLIN) == utc(2026, 10, 25, 7, 0)
    twice = QuietHours.parse("23:00-02:30")
    assert twice.next_allowed(utc(2026, 10, 24, 22, 0), BERLIN) == utc(2026, 10, 25, 0, 30)
    assert twice.next_allowed(utc(2026, 10, 25, 1, 10), BERLIN) == utc(2026, 10, 25, 1, 30)


def test_a_naive_now_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        NIGHT.next_allowed(datetime(2026, 6, 10, 23, 0), NEW_YORK)


def test_the_answer_is_in_utc_whatever_now_was_given_in():
    now = datetime(2026, 6, 10, 23, 0, tzinfo=NEW_YORK)
    allowed = NIGHT.next_allowed(now, NEW_YORK)
    assert allowed.tzinfo is UTC
    assert allowed == utc(2026, 6, 11, 12, 0)


WINDOWS = ["21:00-08:00", "22:00-02:30", "22:00-01:30", "13:00-14:00", "01:00-03:00"]
ZONES = ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "America/Sao_Paulo"]
YEAR_2026 = (int(utc(2026, 1, 1).timestamp()), int(utc(2027, 1, 1).timestamp()))


@given(
    window=st.sampled_from(WINDOWS),
    zone=st.sampled_from(ZONES),
    seconds=st.integers(*YEAR_2026),
)
def test_a_deferred_text_goes_at_the_first_moment_the_window_is_over(window, zone, seconds):
    """Never earlier than now, never inside the window, never later than it has to be."""
    quiet, tz = QuietHours.parse(window), ZoneInfo(zone)
    now = datetime.fromtimestamp(seconds, UTC)
    allowed = quiet.next_allowed(now, tz)

    def is_quiet(instant: datetime) -> bool:
        return quiet.contains(instant.astimezone(tz).time())

    assert now <= allowed <= now + timedelta(hours=25)
    assert not is_quiet(allowed)
    if allowed > now:
        assert is_quiet(now)
        assert is_quiet(allowed - timedelta(seconds=1))
