"""Delivered parcels with their first carrier scans, written straight into the tables, for the
learned estimates (store/estimates.py) and their report: rows as the pipeline leaves them
(an order, its delivered parcel, the carrier's first scan in its history). Nothing of ours is
imitated; every number the tests expect is worked out by hand beside them.

Pages and emails learn at the real time, so for them the fixtures' story can be told moved
in time (`tell_story`) and the past deliveries seeded relative to now (`seed_lane`)."""

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ordertrack.store.models import History, Inbox, Order, Shipment
from tests.support.webhooks import easypost, fixture_body, shopify

PLACED = datetime(2024, 1, 1, tzinfo=UTC)
#: The in-transit fixture's only carrier scan: the one the story's times are moved from.
FIXTURE_SCAN = datetime(2026, 11, 3, 8, tzinfo=UTC)
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?")


@dataclass(frozen=True)
class Delivered:
    carrier: str
    country: str
    region: str | None
    postcode: str | None
    first_scan: datetime | None
    delivered_at: datetime


def seed(session, parcels: list[Delivered], prefix: str = "past") -> None:
    """One order per parcel (external ids `<prefix>-<n>`), delivered, with its first scan."""
    inbox = Inbox(
        source="easypost",
        dedupe_key=f"{prefix}-story",
        topic="tracker.updated",
        headers={},
        body=b"{}",
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
        status="processed",
        touched_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    session.add(inbox)
    session.flush()
    for n, parcel in enumerate(parcels):
        order = Order(
            platform="shopify",
            external_id=f"{prefix}-{n}",
            name=f"#{prefix}-{n}",
            country_code=parcel.country,
            province_code=parcel.region,
            postcode=parcel.postcode,
            platform_status="fulfilled",
            status="delivered",
            # Placed long before: these orders stay out of the reports that go by the
            # order's date (funnel, stages, carriers) beside another story.
            created_at=PLACED,
            updated_at=parcel.delivered_at,
        )
        order.shipments.append(
            Shipment(
                key="f:1",
                carrier=parcel.carrier,
                tracking_number=f"{prefix.upper()}{n:06d}",
                status="delivered",
                status_at=parcel.delivered_at,
                # The parcel's milestones, as the pipeline keeps them (store/milestones.py).
                first_scan_at=parcel.first_scan,
                delivered_at=parcel.delivered_at,
            )
        )
        session.add(order)
        session.flush()
        for index, (status, when) in enumerate(
            (("in_transit", parcel.first_scan), ("delivered", parcel.delivered_at))
        ):
            if when is not None:
                session.add(
                    History(
                        order_id=order.id,
                        inbox_id=inbox.id,
                        fact_index=n * 2 + index,
                        shipment_key="f:1",
                        kind="tracking",
                        status=status,
                        occurred_at=when,
                        source="easypost",
                    )
                )


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


def _at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def _ny(carrier: str, postcode: str, scan: datetime, delivered: datetime) -> Delivered:
    return Delivered(carrier, "US", "NY", postcode, scan, delivered)


#: A UPS lane's October and November, and what must be left out; test_estimate_report.py
#: works out every number the estimates report gives from it.
NOVEMBER = [
    # Five October Mondays' scans to New York 100xx, each delivered on the Wednesday: 2
    # business days. A carrier's name in any case is one carrier.
    *(
        _ny("UPS", f"1000{i}", _at(10, 5) + timedelta(weeks=i), _at(10, 7) + timedelta(weeks=i))
        for i in range(4)
    ),
    _ny("ups", "10009", _at(10, 26), _at(10, 28)),
    # One to California, Wednesday to Friday: 2 business days, a lane of one.
    Delivered("UPS", "US", "CA", "94103", _at(10, 7), _at(10, 9)),
    # In the period. J1: Monday 2 Nov 10:00 to Wednesday 09:00, 1 business day. At its scan
    # the five October ones (2, 2, 2, 2, 2) gave p90 2: Wednesday 4, so it was on time.
    _ny("UPS", "10010", _at(11, 2), _at(11, 4, 9)),
    # J2: Monday 9 to Friday 13, 4 days. At its scan 1 2 2 2 2 2: p90 (the 6th) 2, due by
    # Wednesday 11: late.
    _ny("UPS", "10011", _at(11, 9), _at(11, 13)),
    # DHL to London: nothing to learn from before it, so not judged; no lane of its own.
    Delivered("DHL", "GB", None, "SW1A 1AA", _at(11, 10), _at(11, 12)),
    # Left out: outside every window (May), delivered without a scan, delivered after the
    # period.
    Delivered("UPS", "US", "TX", "73301", _at(5, 4), _at(5, 6)),
    Delivered("UPS", "US", "TX", "73301", None, _at(11, 20)),
    _ny("UPS", "10012", _at(11, 30), _at(12, 2)),
]
