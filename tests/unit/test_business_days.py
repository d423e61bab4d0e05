"""Business days across weekends and holidays, in the shop's zone."""

from datetime import UTC, date, datetime

import pytest

from ordertrack.business_days import Calendar, CalendarError, parse_holidays, parse_weekdays
from ordertrack.settings import Settings

NY = "America/New_York"


def at(text: str, zone: str = "UTC") -> datetime:
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def test_two_business_days_after_a_friday_morning_is_tuesday_morning():
    calendar = Calendar.build("UTC", (0, 1, 2, 3, 4), (), ())
    assert calendar.add(at("2026-05-08T10:00"), 2) == at("2026-05-12T10:00")


def test_a_saturday_start_counts_from_monday_midnight():
    calendar = Calendar.build("UTC", (0, 1, 2, 3, 4), (), ())
    assert calendar.add(at("2026-05-09T15:00"), 2) == at("2026-05-13T00:00")


def test_a_holiday_is_skipped_like_a_weekend():
    calendar = Calendar.build("UTC", (0, 1, 2, 3, 4), (), (date(2026, 5, 11),))
    assert calendar.add(at("2026-05-08T10:00"), 2) == at("2026-05-13T10:00")


def test_a_country_code_brings_its_public_holidays():
    # Memorial Day 2026 is Monday 25 May in the US.
    calendar = Calendar.build("UTC", (0, 1, 2, 3, 4), ("US",), ())
    assert not calendar.is_business_day(date(2026, 5, 25))
    assert calendar.add(at("2026-05-22T09:00"), 1) == at("2026-05-26T09:00")


def test_days_are_the_shop_zones_not_utcs():
    # Friday 23:30 in New York is already Saturday in UTC: still a Friday order there.
    calendar = Calendar.build(NY, (0, 1, 2, 3, 4), (), ())
    friday_night = at("2026-05-08T23:30", NY).astimezone(UTC)
    assert calendar.add(friday_night, 1) == at("2026-05-11T23:30", NY)


def test_count_is_the_whole_business_days_elapsed():
    calendar = Calendar.build("UTC", (0, 1, 2, 3, 4), (), (date(2026, 5, 11),))
    start = at("2026-05-08T10:00")
    assert calendar.count(start, at("2026-05-12T09:59")) == 0
    assert calendar.count(start, at("2026-05-12T10:00")) == 1
    assert calendar.count(start, at("2026-05-20T10:00")) == 7


def test_a_six_day_week_works_saturdays():
    calendar = Calendar.build("UTC", parse_weekdays("mon,tue,wed,thu,fri,sat"), (), ())
    assert calendar.add(at("2026-05-08T10:00"), 1) == at("2026-05-09T10:00")


def test_settings_read_the_calendar_once(monkeypatch):
    monkeypatch.setenv("SHOP_TIMEZONE", NY)
    monkeypatch.setenv("BUSINESS_DAYS", "Mon, Tue, Wed, Thu, Fri")
    monkeypatch.setenv("HOLIDAYS", "US, 2026-12-24")
    settings = Settings.from_env()
    assert settings.business_days == (0, 1, 2, 3, 4)
    assert settings.holiday_countries == ("US",)
    assert settings.holiday_dates == (date(2026, 12, 24),)
    calendar = settings.calendar()
    assert calendar is settings.calendar()
    assert not calendar.is_business_day(date(2026, 12, 24))
    assert not calendar.is_business_day(date(2026, 12, 25))


@pytest.mark.parametrize("text", ["XX", "2026-02-30", "tomorrow"])
def test_bad_holidays_stop_start_up_naming_the_variable(text):
    with pytest.raises(CalendarError, match="HOLIDAYS"):
        parse_holidays(text)


def test_bad_business_days_stop_start_up_naming_the_variable():
    with pytest.raises(CalendarError, match="BUSINESS_DAYS"):
        parse_weekdays("mon,funday")
