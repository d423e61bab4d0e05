"""A status code no table knows is kept as `unknown` with its raw code, counted, and listed
for the merchant: never silently mapped to "in transit"."""

import json

from tests.support.webhooks import ORDER_ID, easypost, fixture_body, shopify


def _tracker(event_id: str, status: str) -> bytes:
    event = json.loads(fixture_body("easypost", "tracker_updated__in_transit"))
    event["id"] = event_id
    event["result"]["status"] = status
    return json.dumps(event).encode()


def test_unknown_codes_are_counted_and_listed_and_move_nothing(service):
    for request in (shopify("orders_create"), shopify("fulfillments_create")):
        service.post(request)
    service.drain()
    for event_id in ("evt_" + "a" * 32, "evt_" + "b" * 32):
        assert service.post(easypost("x", _tracker(event_id, "teleported"))).status_code == 202
    service.drain()

    listed = service.api("/api/v1/unknown-codes").json["unknown_codes"]
    assert [(c["source"], c["raw_status"], c["count"]) for c in listed] == [
        ("easypost", "teleported", 2)
    ]
    assert service.order(ORDER_ID)["shipments"][0]["status"] == "label_created"


def test_the_unknown_codes_list_needs_the_api_token(service):
    assert service.api("/api/v1/unknown-codes", token="wrong").status_code == 401
