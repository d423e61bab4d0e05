"""BigCommerce's fetch against its V2 API, played by `responses` (third-party HTTP only): which
URLs are asked with which token, what comes back for normalize(), and how every failure is
sorted into retry later (UpstreamUnavailable) or give up (UpstreamRefused)."""

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import requests
import responses
from responses import matchers

from ordertrack.errors import UpstreamRefused, UpstreamUnavailable
from ordertrack.providers import bigcommerce
from ordertrack.settings import Settings
from tests.support.sources.bigcommerce import ACCESS_TOKEN, STORE_HASH, api_body, api_url
from tests.support.webhooks import fixture_body

SETTINGS = Settings(
    bigcommerce_access_token=ACCESS_TOKEN,
    bigcommerce_store_hash=STORE_HASH,
    bigcommerce_api_base="https://api.bigcommerce.com",
    bigcommerce_timeout_seconds=10.0,
)
FIRST_PAGE = {"limit": "250", "page": "1"}


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def callback(name: str) -> dict:
    return json.loads(fixture_body("bigcommerce", name))


def fetch(name: str, settings: Settings = SETTINGS) -> dict:
    event = callback(name)
    return bigcommerce.fetch(event["scope"], event, settings)


def serve(api, path: str, fixture: str | None = None, *, page: bool = False, **options) -> None:
    """Answer GET <path> with a recorded body (or `options`, e.g. status=404)."""
    match = [matchers.query_param_matcher(FIRST_PAGE)] if page else []
    if fixture:
        options["json"] = api_body(fixture)
    api.get(api_url(path), match=match, **options)


def serve_order_3001_shipped(api) -> None:
    serve(api, "/orders/3001", "order_3001__shipped")
    serve(api, "/orders/3001/products", "order_3001_products__shipped", page=True)


# --- What is asked, and what comes back


def test_an_order_callback_fetches_the_order_its_products_and_its_shipments(api):
    serve_order_3001_shipped(api)
    serve(api, "/orders/3001/shipments", "order_3001_shipments", page=True)
    result = fetch("order_updated")
    assert result == {
        "event": callback("order_updated"),
        "order": api_body("order_3001__shipped"),
        "products": api_body("order_3001_products__shipped"),
        "shipments": api_body("order_3001_shipments"),
    }
    assert json.loads(json.dumps(result)) == result  # stored and re-read as JSON by the worker
    assert [call.request.url for call in api.calls] == [
        "https://api.bigcommerce.com/stores/abc123xyz/v2/orders/3001",
        "https://api.bigcommerce.com/stores/abc123xyz/v2/orders/3001/products?limit=250&page=1",
        "https://api.bigcommerce.com/stores/abc123xyz/v2/orders/3001/shipments?limit=250&page=1",
    ]


def test_every_request_carries_the_access_token_accepts_json_and_has_the_timeout(api):
    serve_order_3001_shipped(api)
    serve(api, "/orders/3001/shipments", "order_3001_shipments", page=True)
    fetch("order_updated", replace(SETTINGS, bigcommerce_timeout_seconds=4.5))
    for call in api.calls:
        assert call.request.headers["X-Auth-Token"] == ACCESS_TOKEN
        assert call.request.headers["Accept"] == "application/json"
        assert call.request.req_kwargs["timeout"] == 4.5


def test_a_shipment_callback_fetches_that_shipment_and_its_order(api):
    serve_order_3001_shipped(api)
    serve(api, "/orders/3001/shipments/31", "order_3001_shipment_31__tracking_replaced")
    result = fetch("shipment_updated__tracking_replaced")
    assert result["shipments"] == [api_body("order_3001_shipment_31__tracking_replaced")]
    facts = bigcommerce.normalize(
        "store/shipment/updated", result, datetime(2026, 11, 20, tzinfo=UTC)
    )
    assert facts[1].tracking_number == "1Z999AA10123453002"


def test_an_order_with_no_shipments_yet_is_204_and_has_none(api):
    serve(api, "/orders/3001", "order_3001__awaiting_fulfillment")
    serve(api, "/orders/3001/products", "order_3001_products", page=True)
    serve(api, "/orders/3001/shipments", page=True, status=204)
    assert fetch("order_created")["shipments"] == []


def test_an_incomplete_order_is_not_asked_for_its_products_or_shipments(api):
    serve(api, "/orders/3003", "order_3003__incomplete")
    result = fetch("order_created__incomplete")
    assert result == {
        "event": callback("order_created__incomplete"),
        "order": api_body("order_3003__incomplete"),
    }
    assert len(api.calls) == 1


def test_a_deleted_shipment_needs_no_call_and_no_token(api):
    no_token = Settings(bigcommerce_store_hash=STORE_HASH)
    assert fetch("shipment_deleted", no_token) == {"event": callback("shipment_deleted")}
    assert len(api.calls) == 0


def test_a_long_order_is_read_page_by_page(api):
    row = api_body("order_3001_products")[0]
    full = [row | {"id": 5000 + i} for i in range(250)]
    serve(api, "/orders/3001", "order_3001__shipped")
    api.get(
        api_url("/orders/3001/products"),
        json=full,
        match=[matchers.query_param_matcher(FIRST_PAGE)],
    )
    api.get(
        api_url("/orders/3001/products"),
        json=[row | {"id": 5250}],
        match=[matchers.query_param_matcher({"limit": "250", "page": "2"})],
    )
    serve(api, "/orders/3001/shipments", "order_3001_shipments", page=True)
    assert len(fetch("order_updated")["products"]) == 251


def test_the_configured_api_base_is_used_with_or_without_a_trailing_slash(api):
    api.get(
        "https://bc.test/stores/abc123xyz/v2/orders/3003", json=api_body("order_3003__incomplete")
    )
    settings = replace(SETTINGS, bigcommerce_api_base="https://bc.test/")
    fetch("order_created__incomplete", settings)


# --- Refused for good: retrying cannot help


def test_a_missing_order_is_404_and_refused(api):
    serve(
        api,
        "/orders/3001",
        status=404,
        json=[{"status": 404, "message": "The requested resource was not found."}],
    )
    with pytest.raises(UpstreamRefused, match="404"):
        fetch("order_created")


def test_a_deleted_shipment_read_after_the_fact_is_404_and_refused(api):
    serve_order_3001_shipped(api)
    serve(api, "/orders/3001/shipments/31", status=404)
    with pytest.raises(UpstreamRefused, match="/orders/3001/shipments/31 answered 404"):
        fetch("shipment_created")


def test_a_callback_from_another_store_is_refused_without_a_call(api):
    event = callback("order_created") | {"producer": "stores/zzz999"}
    with pytest.raises(UpstreamRefused, match="BIGCOMMERCE_STORE_HASH"):
        bigcommerce.fetch("store/order/created", event, SETTINGS)
    assert len(api.calls) == 0


def test_without_a_configured_store_hash_the_callbacks_store_is_asked(api):
    serve(api, "/orders/3003", "order_3003__incomplete")
    fetch("order_created__incomplete", Settings(bigcommerce_access_token=ACCESS_TOKEN))


def test_without_an_access_token_nothing_is_asked_and_the_setting_is_named(api):
    with pytest.raises(UpstreamRefused, match="BIGCOMMERCE_ACCESS_TOKEN"):
        fetch("order_created", Settings(bigcommerce_store_hash=STORE_HASH))
    assert len(api.calls) == 0


# --- Unavailable for now: the worker retries with backoff


def test_a_throttled_call_is_unavailable_and_says_when_to_come_back(api):
    serve(api, "/orders/3001", status=429, headers={"Retry-After": "30"})
    with pytest.raises(UpstreamUnavailable, match=r"429 \(Retry-After: 30\)") as raised:
        fetch("order_created")
    assert raised.value.retry_after == 30


def test_bigcommerces_own_rate_limit_reset_header_is_said_too(api):
    serve(api, "/orders/3001", status=429, headers={"X-Rate-Limit-Time-Reset-Ms": "1500"})
    with pytest.raises(UpstreamUnavailable, match=r"X-Rate-Limit-Time-Reset-Ms: 1500") as raised:
        fetch("order_created")
    assert raised.value.retry_after == 1.5


def test_a_retry_after_that_is_a_date_is_left_to_the_usual_backoff(api):
    serve(api, "/orders/3001", status=503, headers={"Retry-After": "Wed, 02 Dec 2026 07:28:00 GMT"})
    with pytest.raises(UpstreamUnavailable, match="503") as raised:
        fetch("order_created")
    assert raised.value.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_server_error_is_unavailable(api, status):
    serve(api, "/orders/3001", status=status)
    with pytest.raises(UpstreamUnavailable, match=str(status)):
        fetch("order_created")


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_unavailable_until_the_token_is_fixed(api, status):
    serve(api, "/orders/3001", status=status)
    with pytest.raises(UpstreamUnavailable, match="BIGCOMMERCE_ACCESS_TOKEN") as raised:
        fetch("order_created")
    assert ACCESS_TOKEN not in raised.value.message


@pytest.mark.parametrize(
    ("failure", "said"),
    [
        (requests.exceptions.ReadTimeout("read timed out"), "within 10 s"),
        (requests.exceptions.ConnectTimeout("connect timed out"), "within 10 s"),
        (requests.exceptions.ConnectionError("connection refused"), "ConnectionError"),
    ],
)
def test_no_answer_is_unavailable(api, failure, said):
    serve(api, "/orders/3001", body=failure)
    with pytest.raises(UpstreamUnavailable, match=said):
        fetch("order_created")


def test_a_page_that_is_not_json_is_unavailable(api):
    serve(api, "/orders/3001", status=200, body="<html>Bad gateway</html>")
    with pytest.raises(UpstreamUnavailable, match="no JSON"):
        fetch("order_created")


def test_a_later_call_failing_fails_the_whole_fetch(api):
    serve(api, "/orders/3001", "order_3001__awaiting_fulfillment")
    serve(api, "/orders/3001/products", page=True, status=503)
    with pytest.raises(UpstreamUnavailable, match="/orders/3001/products answered 503"):
        fetch("order_created")


def test_a_redirect_is_refused_and_the_token_goes_nowhere_else(api):
    serve(api, "/orders/3001", status=302, headers={"Location": "https://elsewhere.example/"})
    with pytest.raises(UpstreamRefused, match="302"):
        fetch("order_created")
    assert [call.request.url for call in api.calls] == [api_url("/orders/3001")]
