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


def test_an_id_wider_than_a_bigint_names_no_row_instead_of_failing(service):
    """Found by the API contract test: PostgreSQL refused the id as a parameter (a 500)."""
    auth = {"Authorization": "Bearer test-api-token"}
    wide = str(2**63)
    for path in (f"/api/v1/notifications/{wide}/resend", f"/api/v1/returns/{wide}/approve"):
        answer = service.client.post(path, headers=auth)
        assert answer.status_code == 404 and answer.json["status"] == 404, path
    assert service.api(f"/api/v1/returns/{wide}").status_code == 404
    assert service.client.post(f"/api/v1/returns/{2**63 - 1}/approve", headers=auth).json == {
        "error": f"no return {2**63 - 1}",
        "status": 404,
    }
    replay = service.client.post("/api/v1/replay", json={"ids": [2**63]}, headers=auth)
    assert replay.status_code == 400 and "ids must be" in replay.json["error"]
