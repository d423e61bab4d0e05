"""The customer's tracking page over HTTP, on both databases: the signed link, the /track
look-up, its rate limit, and the live event stream."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from ordertrack.notifications.links import tracking_token
from ordertrack.store import estimates
from ordertrack.store.models import Order, Shipment
from service import tracking
from tests.support.webhooks import ORDER_ID, STORY, easypost

CUSTOMER = "ada@example.com"


def _with_page(service):
    """The tracking blueprint on the service under test, until the lead wires it in app.py."""
    if "tracking" not in service.app.blueprints:
        service.app.register_blueprint(tracking.bp)
    return service


@pytest.fixture
def site(service):
    return _with_page(service)


def _post_all(service, requests) -> None:
    for request in requests:
        assert service.post(request).status_code in (200, 202), request.name
    service.drain()


def _order_id(service) -> int:
    with service.runtime.sessions() as session:
        return session.scalar(select(Order.id).where(Order.external_id == ORDER_ID))


def _link(service, order_id: int | None = None) -> str:
    keys = service.app.extensions["ordertrack"].link_keys
    return f"/t/{tracking_token(keys, order_id or _order_id(service))}"


def _aged_token(service, days: float) -> str:
    """A link signed `days` ago, as an email from back then carries it."""

    class Then(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - days * 86400)

    keys = service.app.extensions["ordertrack"].link_keys
    serializer = URLSafeTimedSerializer(list(reversed(keys)), salt="tracking", signer=Then)
    return serializer.dumps(_order_id(service))


def test_signed_link_shows_status_parcels_and_timeline_in_the_customers_zone(site):
    _post_all(site, STORY)
    page = site.client.get(_link(site))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Order #1042" in html and ">Delivered</h1>" in html
    assert "2 of 2 delivered" in html
    assert 'aria-current="step"' in html
    for text in ("USPS", "9400111899223344556677", "UPS", "1Z999AA10123456784"):
        assert text in html
    assert 'href="https://tools.usps.com/go/TrackConfirmAction?tLabels=9400111899223344556677"' in (
        html
    )
    # Delivered 15:12 UTC; the order ships to New York.
    assert "Wed 4 Nov 2026, 10:12 EST" in html and "Delivered (USPS)" in html
    assert (
        html.index("Delivered (UPS)") < html.index("Delivered (USPS)") < html.index("Order placed")
    )
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "<script" in html and "EventSource" in html and "https://" not in _scripts(html)


def _scripts(html: str) -> str:
    return html[html.index("<script") :]


def test_fragment_is_the_live_part_only(site):
    _post_all(site, STORY[:3])
    fragment = site.client.get(_link(site) + "?fragment=1").get_data(as_text=True)
    assert "<html" not in fragment and "<script" not in fragment
    assert "data-headline>Shipped</h1>" in fragment


def test_links_expire_after_tracking_link_days(start):
    site = _with_page(start(TRACKING_LINK_DAYS="2"))
    _post_all(site, STORY[:1])
    assert site.client.get(f"/t/{_aged_token(site, 1)}").status_code == 200
    assert site.client.get(f"/t/{_aged_token(site, 3)}").status_code == 404


@pytest.mark.parametrize("number", ["#1042", "1042", " #1042 "])
def test_track_form_with_the_right_pair_redirects_to_the_signed_page(site, number):
    _post_all(site, STORY[:2])
    assert site.client.get("/track").status_code == 200
    response = site.client.post("/track", data={"order_number": number, "email": "ADA@Example.com"})
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/t/")
    assert "Order #1042" in site.client.get(response.headers["Location"]).get_data(as_text=True)


def test_a_miss_says_only_no_order_matched_whether_or_not_the_order_exists(site):
    _post_all(site, STORY[:2])
    wrong_email = site.client.post(
        "/track", data={"order_number": "#1042", "email": "eve@example.com"}
    )
    no_such_order = site.client.post("/track", data={"order_number": "#9999", "email": CUSTOMER})
    empty = site.client.post("/track", data={"order_number": "", "email": ""})
    assert wrong_email.status_code == no_such_order.status_code == empty.status_code == 200
    assert "No order matched" in wrong_email.get_data(as_text=True)
    assert wrong_email.get_data() == no_such_order.get_data() == empty.get_data()
    assert "Location" not in wrong_email.headers


def test_lookups_are_rate_limited_per_client(site):
    _post_all(site, STORY[:1])
    guess = {"order_number": "#1042", "email": "guess@example.com"}
    eve = {"REMOTE_ADDR": "203.0.113.9"}
    for n in range(tracking.LOOKUP_LIMIT):  # other numbers: #1042's own limit is not the test
        other_order = {**guess, "order_number": f"#{2000 + n}"}
        assert site.client.post("/track", data=other_order, environ_base=eve).status_code == 200
    refused = site.client.post("/track", data={**guess, "email": CUSTOMER}, environ_base=eve)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= tracking.LOOKUP_WINDOW
    assert "1042" not in refused.get_data(as_text=True)
    other = site.client.post("/track", data={**guess, "email": CUSTOMER})
    assert other.status_code == 303


@pytest.fixture
def fast_stream(monkeypatch):
    monkeypatch.setattr(tracking, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(tracking, "KEEPALIVE_SECONDS", 0.3)
    monkeypatch.setattr(tracking, "STREAM_SECONDS", 8.0)


def test_event_stream_sends_update_when_a_webhook_is_applied(site, fast_stream):
    _post_all(site, STORY[:3])
    response = site.client.get(_link(site) + "/events", buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    chunks = iter(response.response)
    assert next(chunks) == b"retry: 5000\n\n"
    assert next(chunks) == b": keep-alive\n\n"  # nothing new yet
    _post_all(site, [easypost("tracker_updated__in_transit")])
    received = []
    for chunk in chunks:
        received.append(chunk.decode())
        if "event: update" in received[-1]:
            break
    response.close()
    assert "event: update" in received[-1], received
    assert "On its way" in site.client.get(_link(site) + "?fragment=1").get_data(as_text=True)


def test_event_stream_ends_by_itself_for_the_browser_to_reconnect(site, fast_stream, monkeypatch):
    monkeypatch.setattr(tracking, "STREAM_SECONDS", 0.5)
    _post_all(site, STORY[:1])
    started = time.monotonic()
    body = b"".join(site.client.get(_link(site) + "/events", buffered=False).response)
    assert body.startswith(b"retry: 5000\n\n") and b"event: update" not in body
    assert time.monotonic() - started < 5


def test_last_event_id_from_before_a_change_gets_the_update_at_once(site, fast_stream):
    _post_all(site, STORY[:1])
    before = "2000-01-01T00:00:00+00:00"
    response = site.client.get(
        _link(site) + "/events", buffered=False, headers={"Last-Event-ID": before}
    )
    chunks = iter(response.response)
    next(chunks)
    assert b"event: update" in next(chunks)
    response.close()


def test_streams_past_sse_max_streams_are_told_503_and_a_closed_one_frees_its_slot(
    start, fast_stream
):
    site = _with_page(start(SSE_MAX_STREAMS="1"))
    _post_all(site, STORY[:1])
    events = _link(site) + "/events"
    first = site.client.get(events, buffered=False)
    assert first.status_code == 200
    refused = site.client.get(events)
    assert refused.status_code == 503
    assert refused.json == {
        "error": "every live-update stream is taken: poll the page",
        "status": 503,
    }
    assert int(refused.headers["Retry-After"]) == tracking.FALLBACK_POLL_SECONDS
    first.close()
    again = site.client.get(events, buffered=False)
    assert again.status_code == 200, "the closed stream gave its slot back"
    again.close()
    page = site.client.get(_link(site)).get_data(as_text=True)
    assert f'data-poll-seconds="{tracking.FALLBACK_POLL_SECONDS}"' in page


def test_with_sse_max_streams_0_every_page_polls(start):
    site = _with_page(start(SSE_MAX_STREAMS="0"))
    _post_all(site, STORY[:1])
    assert site.client.get(_link(site) + "/events").status_code == 503
    assert site.client.get(_link(site)).status_code == 200


def test_learned_estimate_by_lane_from_the_shops_recent_deliveries(database_url):
    """Seeded deliveries, counted in business days from the first scan (Mon-Fri, UTC)."""
    from ordertrack.business_days import Calendar
    from ordertrack.lanes import Lane, LaneEstimate
    from ordertrack.store.db import make_engine, make_sessionmaker
    from ordertrack.store.models import History, Inbox

    now = datetime(2026, 11, 20, tzinfo=UTC)  # a Friday
    engine = make_engine(database_url)
    with make_sessionmaker(engine).begin() as session:
        inbox = Inbox(
            source="easypost",
            dedupe_key="k",
            topic="t",
            headers={},
            body=b"",
            received_at=now,
            touched_at=now,
        )
        session.add(inbox)
        session.flush()
        # Monday scans; taking 1..6 business days. Five to 100xx, two to 12401 (NY).
        seeds = [("10001", 1), ("10002", 2), ("10003", 2), ("10004", 3), ("10005", 6)]
        seeds += [("12401", 4), ("12401", 4)]
        for i, (postcode, days) in enumerate(seeds):
            scan = datetime(2026, 11, 2, 10, tzinfo=UTC)
            delivered = scan + timedelta(days=days + (2 if days >= 5 else 0))
            order = Order(
                platform="shopify",
                external_id=str(i),
                platform_status="fulfilled",
                status="delivered",
                country_code="US",
                province_code="NY",
                postcode=postcode,
                created_at=now,
                updated_at=now,
            )
            session.add(order)
            carrier = "Royal Mail" if i else "royal mail"
            session.add(_delivered(order, i, carrier, scan, delivered, first_scan=scan))
            session.flush()
            session.add(
                History(
                    order_id=order.id,
                    inbox_id=inbox.id,
                    fact_index=i,
                    shipment_key=f"f:{i}",
                    kind="tracking",
                    status="in_transit",
                    occurred_at=scan,
                    source="easypost",
                )
            )
        old = now - timedelta(days=200)
        session.add(_delivered(order, 99, "Royal Mail", old, old + timedelta(days=20)))
    book = estimates.Book(Calendar(), now)
    with make_sessionmaker(engine)() as session:
        # 100xx: 1 2 2 3 6 -> p50 2, p90 6.
        assert book.estimate(session, "ROYAL MAIL", Lane.of("US", "NY", "10010")) == (
            LaneEstimate(2, 6, 5, "postcode")
        )
        # 124xx has two: New York's seven, 1 2 2 3 4 4 6 -> p50 3, p90 6.
        assert book.estimate(session, "royal mail", Lane.of("US", "NY", "12401")) == (
            LaneEstimate(3, 6, 7, "region")
        )
        assert book.estimate(session, "Royal Mail", Lane.of("US", "CA", "94103")).basis == (
            "country"
        )
        assert book.estimate(session, "Royal Mail", Lane.of("GB", None, "SW1A")).basis == (
            "carrier"
        )
        assert book.estimate(session, "DHL", Lane.of("US", "NY", "10010")) is None
    engine.dispose()


def _delivered(order, i, carrier, labelled, delivered, first_scan=None) -> Shipment:
    """`first_scan`: the parcel's milestone, as the pipeline keeps it beside its history."""
    return Shipment(
        order=order,
        key=f"f:{i}",
        carrier=carrier,
        status="delivered",
        status_at=delivered,
        labelled_at=labelled,
        first_scan_at=first_scan,
        delivered_at=delivered if first_scan else None,
    )


def _day(moment: datetime) -> str:
    """As the page writes a day: "Wednesday 9 December"."""
    return f"{moment:%A} {moment.day} {moment:%B}"


@pytest.mark.parametrize("carrier_date", [None, "passed"])
def test_the_page_shows_a_learned_range_labelled_as_from_past_deliveries(site, carrier_date):
    """Without a carrier date, or once it has passed, the range learned from the shop's
    deliveries on the lane (here 7 7 8 9 10 business days: p50 8, p90 10) is shown, and
    labelled as ours, not the carrier's."""
    from tests.support.lane_story import seed_lane, tell_story, weekdays_after

    now = datetime.now(UTC)
    seed_lane(site, now, [7, 7, 8, 9, 10])
    scan = (now - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    passed = (scan - timedelta(days=1)).date() if carrier_date else None
    tell_story(site, scan, "en", carrier_date=passed)
    html = site.client.get(_link(site)).get_data(as_text=True)
    first, last = weekdays_after(scan, 8), weekdays_after(scan, 10)
    assert f"Expected between {_day(first)} and {_day(last)}" in html
    assert "estimated from past deliveries with USPS" in html
