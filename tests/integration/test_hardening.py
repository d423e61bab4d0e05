"""Inputs that are valid JSON but no database column can hold, found by review."""

import json

from ordertrack.errors import MalformedPayload
from ordertrack.strictjson import loads
from tests.support.webhooks import ORDER_ID, fixture_body, shopify


def test_a_nul_character_is_refused_but_an_escaped_backslash_u0000_is_text():
    for body in (b'{"a": "x\\u0000y"}', b'{"x\\u0000": 1}'):
        try:
            loads(body)
        except MalformedPayload as exc:
            assert "NUL" in str(exc)
        else:
            raise AssertionError(f"{body!r} was accepted")
    assert loads(b'{"a": "x\\\\u0000y"}') == {"a": "x\\u0000y"}


def test_a_nul_webhook_is_a_400_and_a_nul_api_path_a_404(service):
    body = fixture_body("shopify", "orders_create").replace(b'"#1042"', b'"#10\\u000042"')
    response = service.post(shopify("orders_create", body))
    assert response.status_code == 400, response.json
    assert "NUL" in response.json["error"]
    assert service.api("/api/v1/orders/shopify/1%00").status_code == 404


def test_text_wider_than_its_column_is_cut_not_fatal(service):
    order = json.loads(fixture_body("shopify", "orders_create"))
    order["name"] = "#" + "9" * 99
    order["phone"] = "+1" + "5" * 60
    assert service.post(shopify("orders_create", json.dumps(order).encode())).status_code == 202
    service.drain()
    stored = service.order(ORDER_ID)
    assert stored["name"] == order["name"][:64]
    assert stored["history"], "the event was applied, not failed"
