"""The customer's "taking longer than usual" email carries the estimate that still holds, in
English and Spanish, through the real SMTP server: a date learned from the shop's past
deliveries on the parcel's lane (labelled so), also when the carrier's own date has passed;
never a learned range already over.

The email is written at the real time, so the story is too: the fixtures' times are moved to
end a few days before now, and the past deliveries are seeded relative to now. The expected
days are counted here by hand (Monday to Friday, UTC: the default calendar)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from ordertrack import delay_check
from tests.support.lane_story import seed_lane, tell_story, weekdays_after

CUSTOMER = "ada@example.com"
SUBJECT = {"en": "taking longer than usual", "es": "tardando más de lo habitual"}
WORDS = {
    "en": {
        "learned": "Expected delivery (estimated from our past deliveries): between {} and {}",
        "passed": "Carrier's estimate, now passed: {}",
        "days": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        "months": ("January", "February", "March", "April", "May", "June", "July",
                   "August", "September", "October", "November", "December"),
        "date": "{weekday}, {day} {month}",
    },
    "es": {
        "learned": "Entrega prevista (estimada según nuestros envíos anteriores): "
        "entre el {} y el {}",
        "passed": "Fecha prevista por el transportista, ya pasada: {}",
        "days": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
        "months": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
                   "septiembre", "octubre", "noviembre", "diciembre"),
        "date": "{weekday}, {day} de {month}",
    },
}  # fmt: skip


def said(locale: str, day: date) -> str:
    words = WORDS[locale]
    weekday, month = words["days"][day.weekday()], words["months"][day.month - 1]
    return words["date"].format(weekday=weekday, day=day.day, month=month)


def check_and_send(service, now: datetime) -> list[str]:
    checked = delay_check.check_all(service.runtime.sessions, service.runtime.settings, now)
    for queued in checked.notifications:
        service.runtime.actors.send_notification.send(queued.id)
    service.drain()
    return sorted(change.kind for change in checked.flagged)


def delay_emails(smtp, locale: str) -> list[str]:
    return [
        message.get_body(("plain",)).get_content()
        for message in smtp.to(CUSTOMER)
        if SUBJECT[locale] in message["Subject"]
    ]


@pytest.mark.parametrize("locale", ["en", "es"])
def test_no_movement_and_no_carrier_date_the_learned_range_is_the_estimate(start, smtp, locale):
    service = start()
    now = datetime.now(UTC)
    # Past deliveries took 7 7 8 9 10 business days: p50 8, p90 10.
    seed_lane(service, now, [7, 7, 8, 9, 10])
    # Scanned eight days ago (at least five business days): no movement since, and the
    # learned p90 day is still ahead.
    scan = (now - timedelta(days=8)).replace(minute=0, second=0, microsecond=0)
    tell_story(service, scan, locale, carrier_date=None)
    assert check_and_send(service, now) == ["no_movement"]
    [body] = delay_emails(smtp, locale)
    first, last = weekdays_after(scan, 8).date(), weekdays_after(scan, 10).date()
    assert WORDS[locale]["learned"].format(said(locale, first), said(locale, last)) in body


@pytest.mark.parametrize("locale", ["en", "es"])
def test_past_the_carriers_date_the_learned_range_is_the_new_estimate(start, smtp, locale):
    service = start()
    now = datetime.now(UTC)
    seed_lane(service, now, [7, 7, 8, 9, 10])
    scan = (now - timedelta(days=8)).replace(minute=0, second=0, microsecond=0)
    carrier_date = (scan + timedelta(days=1)).date()
    tell_story(service, scan, locale, carrier_date)
    assert check_and_send(service, now) == ["no_movement", "past_estimate"]
    first, last = weekdays_after(scan, 8).date(), weekdays_after(scan, 10).date()
    for body in delay_emails(smtp, locale):
        assert WORDS[locale]["passed"].format(said(locale, carrier_date)) in body
        assert WORDS[locale]["learned"].format(said(locale, first), said(locale, last)) in body
    assert len(delay_emails(smtp, locale)) == 2, "one per delay"


def test_a_learned_range_already_over_is_not_promised_again(start, smtp):
    service = start()
    now = datetime.now(UTC)
    # Past deliveries took 2 2 3 3 4 days: scanned three weeks ago, the p90 day is long gone.
    seed_lane(service, now, [2, 2, 3, 3, 4])
    scan = (now - timedelta(weeks=3)).replace(minute=0, second=0, microsecond=0)
    tell_story(service, scan, "en", carrier_date=None)
    assert check_and_send(service, now) == ["no_movement", "past_estimate"]
    bodies = delay_emails(smtp, "en")
    assert len(bodies) == 2
    for body in bodies:
        assert (
            "taking longer than usual" in body and "Tracking number: 9400111899223344556677" in body
        )
        assert "Expected delivery" not in body, body
