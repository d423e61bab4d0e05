"""When a source's own API says when to come back (BigCommerce's 429 with Retry-After), the
worker waits that long before trying the event again, then applies it; nothing is lost.
BigCommerce's API, a third party, is played by `responses`."""

import time

import responses

from tests.support.sources import bigcommerce
from tests.support.webhooks import request_for


def test_a_throttled_fetch_is_retried_after_the_time_the_api_asked_for(start):
    service = start(RETRY_MIN_BACKOFF_MS="10", RETRY_MAX_BACKOFF_MS="5000")
    asked_at: list[float] = []

    def order(request):
        asked_at.append(time.monotonic())
        if len(asked_at) == 1:
            return 429, {"Retry-After": "1"}, "[]"
        return (
            200,
            {},
            (bigcommerce.FIXTURES / "bigcommerce/api/order_3001__shipped.json").read_text(),
        )

    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.add_callback(responses.GET, bigcommerce.api_url("/orders/3001"), callback=order)
        api.get(
            bigcommerce.api_url("/orders/3001/products"),
            json=bigcommerce.api_body("order_3001_products__shipped"),
        )
        api.get(
            bigcommerce.api_url("/orders/3001/shipments"),
            json=bigcommerce.api_body("order_3001_shipments"),
        )
        assert (
            service.post(request_for("bigcommerce", "order_statusUpdated__shipped")).status_code
            == 202
        )
        service.drain(timeout=30)

    assert len(asked_at) == 2
    assert asked_at[1] - asked_at[0] >= 0.9, "the API asked for a second"
    order = service.order("3001", platform="bigcommerce")
    assert order["status"] == "shipped"
    assert order["shipments"][0]["tracking_number"] == "1Z999AA10123453001"
