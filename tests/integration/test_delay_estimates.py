"""The customer's "taking longer than usual" email carries the estimate that still holds, in
English and Spanish, through the real SMTP server: a date learned from the shop's past
deliveries on the parcel's lane (labelled so), also when the carrier's own date has passed;
never a learned range already over.

The email is written at the real time, so the story is too: the fixtures' times are moved to
end a few days before now, and the past deliveries are seeded relative to now. The expected
days are counted here by hand (Monday to Friday, UTC: the default calendar)."""

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest

from ordertrack import delay_check
from tests.support.lane_story import Delivered, seed
from tests.support.webhooks import easypost, fixture_body, shopify

CUSTOMER = "ada@example.com"
#: The in-transit fixture's only carrier scan: the one the story's times are moved from.
FIXTURE_SCAN = datetime(2026, 11, 3, 8, tzinfo=UTC)
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?")
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


def weekdays_after(start: datetime, days: int) -> datetime:
    """`days` weekdays after `start`, at its time of day; a start on a weekend counts from
    Monday's midnight (the calendar's rule for something begun on a day off)."""
    moment = start
    if moment.weekday() >= 5:
        moment = (moment + timedelta(days=7 - moment.weekday())).replace(hour=0, minute=0)
    for _ in range(days):
        moment += timedelta(days=1)
        while moment.weekday() >= 5:
            moment += timedelta(days=1)
    return moment


def said(locale: str, day: date) -> str:
    words = WORDS[locale]
    weekday, month = words["days"][day.weekday()], words["months"][day.month - 1]
    return words["date"].format(weekday=weekday, day=day.day, month=month)


def _moved(value, delta: timedelta):
    """Every ISO time or date in a payload, `delta` later."""
    if isinstance(value, dict):
        return {key: _moved(item, delta) for key, item in value.items()}
    if isinstance(value, list):
        return [_moved(item, delta) for item in value]
    if not isinstance(value, str) or not _ISO.fullmatch(value):
        return value
    if len(value) == 10:
        return (datetime.fromisoformat(value) + delta).date().isoformat()
    moved = (datetime.fromisoformat(value) + delta).isoformat()
    return moved.replace("+00:00", "Z") if value.endswith("Z") else moved


def _payload(source: str, name: str, delta: timedelta) -> dict:
    return _moved(json.loads(fixture_body(source, name)), delta)


def _post(service, request) -> None:
    assert service.post(request).status_code == 202, request.name
    service.drain()


def tell_story(service, scan: datetime, locale: str, carrier_date: date | None) -> None:
    """The fixtures' order, parcel and first scan, moved so the scan is at `scan`."""
    delta = scan - FIXTURE_SCAN
    order = _payload("shopify", "orders_create", delta)
    order["customer_locale"] = locale
    _post(service, shopify("orders_create", json.dumps(order).encode()))
    fulfilment = _payload("shopify", "fulfillments_create", delta)
    _post(service, shopify("fulfillments_create", json.dumps(fulfilment).encode()))
    event = _payload("easypost", "tracker_updated__in_transit", delta)
    day = carrier_date.isoformat() if carrier_date else None
    event["result"]["est_delivery_date"] = f"{day}T00:00:00Z" if day else None
    event["result"]["carrier_detail"]["est_delivery_date_local"] = day
    _post(service, easypost("tracker_updated__in_transit", json.dumps(event).encode()))


def seed_lane(service, now: datetime, transit_days: list[int]) -> None:
    """USPS deliveries to New York 100xx, scanned on a weekday six weeks ago at 10:00."""
    scan = (now - timedelta(weeks=6)).replace(hour=10, minute=0, second=0, microsecond=0)
    scan = weekdays_after(scan - timedelta(days=1), 1)
    parcels = [
        Delivered("USPS", "US", "NY", f"1000{i}", scan, weekdays_after(scan, days))
        for i, days in enumerate(transit_days)
    ]
    with service.runtime.sessions.begin() as session:
        seed(session, parcels)


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
