"""Every parcel's news, and every change a customer must hear (issue 9), through the real
queue: a private Redis, the Dramatiq worker loop, PostgreSQL and a real SMTP server; the
merchant's endpoint, a third party, played by `responses`.

An order in two parcels hears shipped, out for delivery and delivered of each parcel, once,
however often a second source or a re-sent webhook or a redelivered queue message repeats
them; a return to sender, a cancellation, a refund and each failed attempt are told too."""

import base64
import json
from collections import Counter

import pytest
import responses
from standardwebhooks.webhooks import Webhook

from tests.support.harness import start_service
from tests.support.processes import RedisServer
from tests.support.webhooks import ORDER_ID, STORY, easypost, fixture_body, request_for, shopify

CUSTOMER = "ada@example.com"
MERCHANT_URL = "https://93.184.215.14/ordertrack-events"
MERCHANT_SECRET = "whsec_" + base64.b64encode(b"p" * 32).decode()
USPS_NUMBER, UPS_NUMBER = "9400111899223344556677", "1Z999AA10123456784"


@pytest.fixture
def queued(postgres_url, base_env, smtp, monkeypatch, tmp_path):
    server = RedisServer(tmp_path).start()
    env = {
        "REDIS_URL": server.url,
        "DATABASE_URL": postgres_url,
        "MERCHANT_WEBHOOK_URL": MERCHANT_URL,
        "MERCHANT_WEBHOOK_SECRET": MERCHANT_SECRET,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(MERCHANT_URL, status=204)
        service = start_service()
        yield service, mock
        service.stop()
    server.stop()


def _post(service, *requests, expect=(202,)) -> None:
    """Each webhook handled before the next arrives, as in real life."""
    for request in requests:
        response = service.post(request)
        assert response.status_code in expect, (request.name, response.json)
        service.drain()


def _events(mock) -> list[dict]:
    calls = [c for c in mock.calls if c.request.url == MERCHANT_URL]
    verifier = Webhook(MERCHANT_SECRET)
    return [verifier.verify(c.request.body, dict(c.request.headers)) for c in calls]


def _emailed(service, smtp, order_id=ORDER_ID, platform="shopify") -> list[tuple[str, str]]:
    """(parcel's tracking number or "order", kind) of every email the customer received, in
    the order received, read from our Message-ID (it names the outbox row)."""
    order = service.order(order_id, platform)
    numbers = {f"f:{s['fulfillment_id']}": s["tracking_number"] for s in order["shipments"]}
    rows = {n["id"]: n for n in order["notifications"] if n["channel"] == "email"}
    told = []
    for message in smtp.to(CUSTOMER):
        row = rows[int(message["Message-ID"].split(".")[1])]
        told.append((numbers.get(row["parcel"], "order"), row["kind"]))
    return told


def _edited(source: str, name: str, **changes) -> bytes:
    payload = json.loads(fixture_body(source, name))
    return json.dumps(payload | changes).encode()


def _attempt(event_id: int, at: str) -> object:
    """Shopify's fulfillment event for a failed delivery attempt of the first parcel."""
    body = _edited(
        "shopify",
        "fulfillment_events_create",
        id=event_id,
        status="attempted_delivery",
        message="Delivery attempted, no access to the building",
        happened_at=at,
    )
    return shopify("fulfillment_events_create", body, webhook_id=f"attempt-{event_id}")


def test_two_parcels_each_hear_shipped_out_for_delivery_and_delivered_once(queued, smtp):
    service, mock = queued
    _post(service, *STORY)
    told = _emailed(service, smtp)
    assert Counter(told) == {
        (number, kind): 1
        for number in (USPS_NUMBER, UPS_NUMBER)
        for kind in ("shipped", "out_for_delivery", "delivered")
    }
    # A second source (the platform) reporting the same milestones, every webhook re-sent,
    # and every notification handed to a worker again: nothing more.
    _post(
        service,
        shopify("fulfillment_events_create"),
        shopify("fulfillment_events_create__delivered"),
    )
    _post(service, *STORY, expect=(200,))
    for notification in service.order(ORDER_ID)["notifications"]:
        service.runtime.actors.send_notification.send(notification["id"])
    service.drain()
    assert _emailed(service, smtp) == told

    subjects = [m["Subject"] for m in smtp.to(CUSTOMER)]
    assert subjects[-1] == "Your order #1042 was delivered (parcel 2 of 2)"
    last = smtp.to(CUSTOMER)[-1].get_body(("plain",)).get_content()
    assert "UPS" in last and UPS_NUMBER in last and "2 of 2 delivered" in last
    second_shipped = smtp.to(CUSTOMER)[1].get_body(("plain",)).get_content()
    assert "your last parcel is on its way" in second_shipped

    parcels = Counter(
        (e["data"]["shipment"]["tracking_number"], e["type"])
        for e in _events(mock)
        if e["type"].startswith("shipment.")
    )
    for number in (USPS_NUMBER, UPS_NUMBER):
        for event in ("label_created", "in_transit", "out_for_delivery", "delivered"):
            assert parcels[(number, f"shipment.{event}")] == 1, (number, event)


def test_a_parcel_returned_to_sender_is_told_to_the_customer_and_the_merchant(queued, smtp):
    service, mock = queued
    _post(
        service,
        shopify("orders_create"),
        shopify("fulfillments_create"),
        easypost("tracker_updated__return_to_sender"),
    )
    assert _emailed(service, smtp)[-1] == (USPS_NUMBER, "returned_to_sender")
    message = smtp.to(CUSTOMER)[-1]
    assert message["Subject"] == (
        "Your parcel from order #1042 is going back to the shop (parcel 1, more to follow)"
    )
    assert USPS_NUMBER in message.get_body(("plain",)).get_content()
    (returned,) = [e for e in _events(mock) if e["type"] == "shipment.returned"]
    assert returned["data"]["shipment"]["tracking_number"] == USPS_NUMBER
    assert returned["data"]["shipment"]["carrier"] == "USPS"


def test_a_cancelled_order_is_told_once(queued, smtp):
    service, mock = queued
    cancelled = shopify("orders_cancelled")
    _post(service, cancelled)
    _post(service, cancelled, expect=(200,))
    assert _emailed(service, smtp, "5531234567999") == [("order", "order_cancelled")]
    assert smtp.to(CUSTOMER)[0]["Subject"] == "Your order #1043 was cancelled"
    assert "order.cancelled" in [e["type"] for e in _events(mock)]


def test_a_refunded_order_is_told_and_its_parcels_news_is_not(queued, smtp):
    service, _ = queued
    woo = "woocommerce"
    _post(service, request_for(woo, "order_created"), request_for(woo, "order_updated__refunded"))
    assert _emailed(service, smtp, "2001", woo) == [("order", "order_refunded")]
    assert smtp.to(CUSTOMER)[0]["Subject"] == "Your order #2001 was refunded"


def test_each_failed_delivery_attempt_is_news_and_one_attempt_told_twice_is_told_once(queued, smtp):
    service, mock = queued
    _post(service, shopify("orders_create"), shopify("fulfillments_create"))
    _post(
        service,
        _attempt(1, "2026-11-04T14:05:00-05:00"),
        _attempt(2, "2026-11-04T14:09:00-05:00"),  # the same attempt, reported again
        _attempt(3, "2026-11-05T13:30:00-05:00"),  # the next day's
    )
    assert _emailed(service, smtp)[1:] == [
        (USPS_NUMBER, "delivery_failed"),
        (USPS_NUMBER, "delivery_failed_again:2"),
    ]
    second = smtp.to(CUSTOMER)[-1]
    assert second["Subject"] == (
        "Delivery attempt 2 failed for order #1042 (parcel 1, more to follow)"
    )
    assert "pickup point" in second.get_body(("plain",)).get_content()
    attempts = [
        e["data"]["shipment"]["attempt"]
        for e in _events(mock)
        if e["type"] == "shipment.delivery_failed"
    ]
    assert attempts == [1, 2]


def test_failed_attempts_learned_out_of_order_are_told_once_about_the_latest(queued, smtp):
    service, mock = queued
    _post(service, shopify("orders_create"), shopify("fulfillments_create"))
    _post(
        service,
        _attempt(3, "2026-11-05T13:30:00-05:00"),  # the second attempt's report comes first
        _attempt(1, "2026-11-04T14:05:00-05:00"),  # the first: history now, not news
    )
    assert _emailed(service, smtp)[1:] == [(USPS_NUMBER, "delivery_failed")]
    assert [e["type"] for e in _events(mock)].count("shipment.delivery_failed") == 1


def test_a_parcel_back_in_transit_after_being_out_for_delivery_hears_no_shipped_again(start, smtp):
    """Shipped and out for delivery land together (one message, about the latest); a failed
    attempt then puts the parcel back in transit: "shipped" is old news, never revived."""
    service = start(NOTIFY_COALESCE_SECONDS="1")
    for request in (shopify("orders_create"), shopify("fulfillments_create")):
        assert service.post(request).status_code == 202
    assert service.post(easypost("tracker_updated__out_for_delivery")).status_code == 202
    service.drain()
    _post(service, easypost("tracker_updated__failed_attempt"))
    assert [kind for _, kind in _emailed(service, smtp)] == ["out_for_delivery"]


def test_a_renumbered_parcel_hears_its_new_numbers_news(queued, smtp):
    """The first number's scans were not this parcel's (a typo, somebody else's parcel): the
    new number's "out for delivery" is news even though the old one's was told."""
    from tests.integration.test_cross_source import NEW_NUMBER, _carrier_event, _replaced

    service, mock = queued
    _post(
        service,
        shopify("orders_create"),
        shopify("fulfillments_create"),
        _carrier_event("tracker_updated__out_for_delivery", "evt_old_ofd"),
        _replaced(),
        _carrier_event(
            "tracker_updated__out_for_delivery",
            "evt_new_ofd",
            number=NEW_NUMBER,
            at="2026-11-05T07:30:00Z",
        ),
    )
    kinds = [kind.partition(":")[0] for _, kind in _emailed(service, smtp)]
    assert kinds == ["shipped", "out_for_delivery", "tracking_changed", "out_for_delivery"]
    assert NEW_NUMBER in smtp.to(CUSTOMER)[-1].get_body(("plain",)).get_content()
    ofd = [e for e in _events(mock) if e["type"] == "shipment.out_for_delivery"]
    assert [e["data"]["shipment"]["tracking_number"] for e in ofd][-1] == NEW_NUMBER
