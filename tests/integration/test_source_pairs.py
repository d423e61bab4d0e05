"""An end-to-end story per platform-carrier pair, through the real queue: a private Redis, the
Dramatiq worker loop, PostgreSQL and a real SMTP server. The platform places and ships an order
with the carrier's tracking number; the carrier's first scan arrives before the platform has
said so (parked, then applied), the rest after. Every pair ends with the parcel delivered, one
email per status, and a history that shows both sources. BigCommerce's REST API, a third
party, is played by `responses`."""

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import responses

from tests.support.harness import Service, start_service
from tests.support.processes import RedisServer
from tests.support.sources import bigcommerce
from tests.support.webhooks import Request, fixture_body, request_for

CUSTOMER = "ada@example.com"


@dataclass(frozen=True)
class CarrierStory:
    #: Fixture names: in transit, out for delivery, delivered.
    events: tuple[str, str, str]
    tracking_number: str
    #: The carrier's name as a platform's merchant would type it.
    carrier: str


CARRIERS = {
    "easypost": CarrierStory(
        (
            "tracker_updated__in_transit",
            "tracker_updated__out_for_delivery",
            "tracker_updated__delivered",
        ),
        "9400111899223344556677",
        "USPS",
    ),
    "aftership": CarrierStory(
        (
            "tracking_update__in_transit",
            "tracking_update__out_for_delivery",
            "tracking_update__delivered",
        ),
        "9400111899223344550101",
        "USPS",
    ),
    "shippo": CarrierStory(
        ("track_updated__transit", "track_updated__out_for_delivery", "track_updated__delivered"),
        "9205590164917312751089",
        "USPS",
    ),
    "ups": CarrierStory(
        ("track_alert__origin_scan", "track_alert__out_for_delivery", "track_alert__delivered"),
        "1Z5338FF0107231059",
        "UPS",
    ),
    "fedex": CarrierStory(
        (
            "tracking_event__in_transit",
            "tracking_event__on_vehicle_for_delivery",
            "tracking_event__delivered",
        ),
        "794644790132",
        "FedEx",
    ),
}


def _edited(source: str, name: str, change: Callable[[dict], None]) -> bytes:
    payload = json.loads(fixture_body(source, name))
    change(payload)
    return json.dumps(payload).encode()


def _shopify(story: CarrierStory) -> list[Request]:
    """Order #1042, shipped whole in one parcel with this carrier's number."""
    items = json.loads(fixture_body("shopify", "orders_create"))["line_items"]

    def ship(fulfillment: dict) -> None:
        fulfillment.update(tracking_company=story.carrier, tracking_number=story.tracking_number)
        fulfillment.update(tracking_numbers=[story.tracking_number], line_items=items)
        fulfillment.update(tracking_url=None, tracking_urls=[])

    body = _edited("shopify", "fulfillments_create", ship)
    return [
        request_for("shopify", "orders_create"),
        request_for("shopify", "fulfillments_create", body),
    ]


def _woocommerce(story: CarrierStory) -> list[Request]:
    """Order 2001, completed with a Shipment Tracking item for this carrier's number."""

    def ship(order: dict) -> None:
        (meta,) = [m for m in order["meta_data"] if m["key"] == "_wc_shipment_tracking_items"]
        meta["value"][0].update(
            tracking_provider=story.carrier, tracking_number=story.tracking_number
        )

    body = _edited("woocommerce", "order_updated__completed", ship)
    return [
        request_for("woocommerce", "order_created"),
        request_for("woocommerce", "order_updated__completed", body),
    ]


def _bigcommerce(story: CarrierStory) -> list[Request]:
    """Order 3001: thin callbacks; the worker reads the order, now shipped, from the API."""
    return [
        request_for("bigcommerce", "order_created"),
        request_for("bigcommerce", "order_statusUpdated__shipped"),
    ]


def _bigcommerce_api(mock: responses.RequestsMock, story: CarrierStory) -> None:
    shipments = bigcommerce.api_body("order_3001_shipments")
    for shipment in shipments:
        shipment.update(tracking_number=story.tracking_number, shipping_provider="")
        shipment.update(tracking_carrier=story.carrier.lower())
    answers = {
        "/orders/3001": bigcommerce.api_body("order_3001__shipped"),
        "/orders/3001/products": bigcommerce.api_body("order_3001_products__shipped"),
        "/orders/3001/shipments": shipments,
    }
    for path, body in answers.items():
        mock.get(bigcommerce.api_url(path), json=body)


PLATFORMS = {
    # platform: (order id, the requests that place and ship it, the status it ends in)
    "shopify": ("5531234567890", _shopify, "delivered"),
    # WooCommerce merchants complete an order when it ships; delivered, it reads completed.
    "woocommerce": ("2001", _woocommerce, "completed"),
    "bigcommerce": ("3001", _bigcommerce, "delivered"),
}


@pytest.fixture
def queued(postgres_url, base_env, smtp, monkeypatch, tmp_path):
    """The service on a private Redis, with the real worker loop in this process (so that
    `responses` can stand in for BigCommerce's API)."""
    server = RedisServer(tmp_path).start()
    monkeypatch.setenv("REDIS_URL", server.url)
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    service = start_service()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield service, mock
    service.stop()
    server.stop()


def _post(service: Service, request: Request) -> None:
    response = service.post(request)
    assert response.status_code == 202, (request.name, response.json)
    service.drain()


@pytest.mark.parametrize("carrier", sorted(CARRIERS))
@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_a_platform_ships_with_a_carrier_and_the_customer_hears_each_step_once(
    queued, smtp, platform, carrier
):
    service, mock = queued
    story = CARRIERS[carrier]
    order_id, shipping, final = PLATFORMS[platform]
    if platform == "bigcommerce":
        _bigcommerce_api(mock, story)
    first, *rest = story.events

    # Requests are signed as they are posted: Shippo's signatures carry the time.
    _post(service, request_for(carrier, first))  # before any order names the number: parked
    for request in shipping(story):
        _post(service, request)
    for name in rest:
        _post(service, request_for(carrier, name))

    order = service.order(order_id, platform=platform)
    (parcel,) = order["shipments"]
    assert (parcel["tracking_number"], parcel["status"]) == (story.tracking_number, "delivered")
    assert order["status"] == final
    sources = {entry["source_event"]["source"] for entry in order["history"]}
    assert sources == {platform, carrier}
    subjects = [m["Subject"] for m in smtp.to(CUSTOMER)]
    assert [s.split(" ", 3)[-1] for s in subjects] == [
        "has shipped",
        "is out for delivery",
        "was delivered",
    ], subjects
