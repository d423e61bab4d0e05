"""GET /metrics: after a story, the counts say what happened; the store's gauges are read at
scrape time; METRICS_TOKEN guards the page. Counters live for the whole test process, so each
test compares a scrape after with a scrape before."""

import dataclasses
import json
import time
from collections import Counter

import pytest

from tests.support.harness import start_service
from tests.support.metrics import scrape, value
from tests.support.webhooks import ORDER_ID, STORY, easypost, fixture_body, shopify

WEBHOOKS = "ordertrack_webhooks_received_total"
ACK = "ordertrack_webhook_ack_duration_seconds"
APPLIED = "ordertrack_event_received_to_applied_seconds"
TRANSITIONS = "ordertrack_order_transitions_total"
NOTIFICATIONS = "ordertrack_notifications_total"
BACKLOG = "ordertrack_inbox_backlog_rows"
OLDEST = "ordertrack_inbox_oldest_pending_age_seconds"


def _change(before, after, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def _post_and_drain(service, request, expected: int) -> None:
    response = service.post(request)
    assert response.status_code == expected, (request.name, response.get_data(as_text=True))
    service.drain()


def test_a_story_is_counted_by_source_code_status_and_channel(service):
    before = scrape(service.client)
    for request in STORY:  # each applied before the next arrives: one path of transitions
        _post_and_drain(service, request, 202)
    _post_and_drain(service, STORY[0], 200)  # a duplicate
    forged = dataclasses.replace(STORY[5], body=STORY[5].body + b" ")
    _post_and_drain(service, forged, 401)
    assert service.client.post("/webhooks/no-such-source", data=b"{}").status_code == 404
    after = scrape(service.client)

    def change(name, **labels):
        return _change(before, after, name, **labels)

    assert change(WEBHOOKS, source="shopify", code="202") == 4
    assert change(WEBHOOKS, source="shopify", code="200") == 1
    assert change(WEBHOOKS, source="easypost", code="202") == 7
    assert change(WEBHOOKS, source="easypost", code="401") == 1
    assert change(WEBHOOKS, source="other", code="404") == 1, "unknown paths share one label"
    assert change(f"{ACK}_count", source="shopify") == 5
    assert change(f"{ACK}_count", source="easypost") == 8
    assert change(f"{ACK}_sum", source="easypost") > 0
    assert change(f"{APPLIED}_count", source="shopify") == 4
    assert change(f"{APPLIED}_count", source="easypost") == 7

    # received -> processing (paid) -> shipped (both parcels) -> in transit -> out for
    # delivery (the first parcel's) -> delivered once both are.
    expected = {
        "processing": 1,
        "shipped": 1,
        "in_transit": 1,
        "out_for_delivery": 1,
        "delivered": 1,
    }
    moved = {s: change(TRANSITIONS, status=s) for s in {*expected, "received", "completed"}}
    assert moved == {**expected, "received": 0, "completed": 0}

    order = service.order(ORDER_ID)
    outcomes = Counter((n["channel"], n["status"]) for n in order["notifications"])
    assert outcomes[("email", "sent")] == 6
    for (channel, outcome), count in outcomes.items():
        assert change(NOTIFICATIONS, channel=channel, outcome=outcome) == count, (channel, outcome)

    for status in ("pending", "processing", "parked"):
        assert value(after, BACKLOG, status=status) == 0, status
    assert value(after, OLDEST) == 0
    assert value(after, "ordertrack_metrics_store_up") == 1


def test_a_parked_event_is_backlog_until_applied_and_only_then_timed(service):
    before = scrape(service.client)
    _post_and_drain(service, easypost("tracker_updated__in_transit"), 202)
    parked = scrape(service.client)
    assert value(parked, BACKLOG, status="parked") == 1
    assert _change(before, parked, f"{APPLIED}_count", source="easypost") == 0

    for request in (shopify("orders_create"), shopify("fulfillments_create")):
        _post_and_drain(service, request, 202)
    released = scrape(service.client)
    assert value(released, BACKLOG, status="parked") == 0
    assert _change(before, released, f"{APPLIED}_count", source="easypost") == 1


@pytest.fixture
def idle_service(database_url, base_env, smtp, monkeypatch):
    """The service with no worker running: what it accepts stays pending."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    running = start_service(with_worker=False)
    yield running
    running.stop()


def test_pending_rows_and_the_age_of_the_oldest_are_read_from_the_store(idle_service):
    for request in STORY[:2]:
        assert idle_service.post(request).status_code == 202
    time.sleep(0.3)
    samples = scrape(idle_service.client)
    assert value(samples, BACKLOG, status="pending") == 2
    assert value(samples, OLDEST) >= 0.3


def _tracker(event_id: str, status: str) -> bytes:
    event = json.loads(fixture_body("easypost", "tracker_updated__in_transit"))
    event["id"] = event_id
    event["result"]["status"] = status
    return json.dumps(event).encode()


def test_unknown_codes_are_gauged_by_source_never_labelled_with_the_code(service):
    for request in (shopify("orders_create"), shopify("fulfillments_create")):
        _post_and_drain(service, request, 202)
    for event_id in ("evt_" + "a" * 32, "evt_" + "b" * 32):
        _post_and_drain(service, easypost("x", _tracker(event_id, "teleported")), 202)
    response = service.client.get("/metrics")
    samples = scrape(service.client)
    assert value(samples, "ordertrack_unknown_status_codes", source="easypost") == 1
    assert value(samples, "ordertrack_unknown_status_events", source="easypost") == 2
    assert "teleported" not in response.get_data(as_text=True)


def test_metrics_are_open_when_no_token_is_set(service):
    response = service.client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"


def test_metrics_token_is_required_as_a_bearer_token_when_set(start):
    service = start(METRICS_TOKEN="metrics-secret")
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Bearer test-api-token"},  # the API's token opens the API only
        {"Authorization": "metrics-secret"},
    ):
        response = service.client.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response.json["status"] == 401 and response.json["error"]
    assert scrape(service.client, token="metrics-secret")


FLAGS_OPEN = "ordertrack_delay_flags_open"


def test_open_delay_flags_are_gauged_by_kind_and_fall_when_cleared(service):
    from datetime import UTC, datetime

    from ordertrack import delay_check, delays

    for request in (shopify("orders_create"), shopify("fulfillments_create")):
        _post_and_drain(service, request, 202)
    _post_and_drain(service, easypost("tracker_updated__in_transit"), 202)
    quiet = scrape(service.client)
    assert all((FLAGS_OPEN, (("kind", kind),)) in quiet for kind in delays.KINDS)
    assert sum(value(quiet, FLAGS_OPEN, kind=kind) for kind in delays.KINDS) == 0

    # Last scan Tue 3 Nov 08:00, estimate Wed 4: a week later it is late and unmoved.
    late = datetime(2026, 11, 10, 9, tzinfo=UTC)
    delay_check.check_all(service.runtime.sessions, service.runtime.settings, late)
    flagged = scrape(service.client)
    assert value(flagged, FLAGS_OPEN, kind="past_estimate") == 1
    assert value(flagged, FLAGS_OPEN, kind="no_movement") == 1
    assert value(flagged, FLAGS_OPEN, kind="not_shipped") == 0

    _post_and_drain(service, easypost("tracker_updated__out_for_delivery"), 202)
    moved = scrape(service.client)
    assert value(moved, FLAGS_OPEN, kind="no_movement") == 0, "the scan cleared it"
    assert value(moved, FLAGS_OPEN, kind="past_estimate") == 1
