"""Alerts: what needs a person reaches the merchant as a signed `ops.*` webhook, once, and
in an hourly email digest. The whole service on both databases, a real SMTP server; the
merchant's endpoint, a third party, played by `responses` and checked with the reference
Standard Webhooks package. The clock is driven by passing `now` to the sweeper's step."""

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
import responses
from standardwebhooks.webhooks import Webhook

from ordertrack.store.inbox import NewInboxRow, record
from tests.support.webhooks import STORY, easypost, fixture_body, shopify
from workers.sweeper import alert_once

MERCHANT_URL = "https://93.184.215.14/ordertrack-events"
MERCHANT_SECRET = "whsec_" + base64.b64encode(b"a" * 32).decode()
MERCHANT_EMAIL = "ops@shop.test"
CUSTOMER = "ada@example.com"


@pytest.fixture
def alerting(start):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(MERCHANT_URL, status=204)
        service = start(
            MERCHANT_WEBHOOK_URL=MERCHANT_URL,
            MERCHANT_WEBHOOK_SECRET=MERCHANT_SECRET,
            MERCHANT_EMAIL=MERCHANT_EMAIL,
        )
        yield service, mock


def _ops_events(mock) -> list[dict]:
    """Every ops.* event the merchant received, each verified as Standard Webhooks."""
    verifier = Webhook(MERCHANT_SECRET)
    calls = [c for c in mock.calls if c.request.url == MERCHANT_URL]
    events = [verifier.verify(c.request.body, dict(c.request.headers)) for c in calls]
    return [event for event in events if event["type"].startswith("ops.")]


def _tracker(event_id: str, status: str) -> bytes:
    event = json.loads(fixture_body("easypost", "tracker_updated__in_transit"))
    event["id"] = event_id
    event["result"]["status"] = status
    return json.dumps(event).encode()


def _post(service, *requests) -> None:
    for request in requests:
        assert service.post(request).status_code == 202, request.name
        service.drain()


def _unknown_code(service, event_id: str, code: str = "teleported") -> None:
    _post(service, easypost("x", _tracker(event_id, code)))


def test_an_unknown_code_is_told_once_per_source_and_code(alerting):
    service, mock = alerting
    _post(service, shopify("orders_create"), shopify("fulfillments_create"))
    _unknown_code(service, "evt_" + "a" * 32)
    alert_once(service.runtime)

    [event] = _ops_events(mock)
    assert event["type"] == "ops.unknown_code"
    assert event["data"]["source"] == "easypost" and event["data"]["code"] == "teleported"

    _unknown_code(service, "evt_" + "b" * 32)  # the same code again: nothing new to say
    alert_once(service.runtime)
    assert len(_ops_events(mock)) == 1
    _unknown_code(service, "evt_" + "c" * 32, "beamed")  # a new one is news
    alert_once(service.runtime)
    assert [e["data"]["code"] for e in _ops_events(mock)] == ["teleported", "beamed"]


def test_an_event_that_fails_for_good_is_told_without_its_payload(alerting):
    service, mock = alerting
    inbox_id = _broken_event(service)
    alert_once(service.runtime)

    [event] = _ops_events(mock)
    assert event["type"] == "ops.event_failed"
    assert {k: event["data"][k] for k in ("inbox_id", "source", "topic", "reason")} == {
        "inbox_id": inbox_id,
        "source": "shopify",
        "topic": "orders/create",
        "reason": "MalformedPayload",
    }
    assert CUSTOMER not in json.dumps(event)


def test_an_email_refused_for_good_is_told_with_the_recipient_masked(alerting, smtp):
    service, mock = alerting
    smtp.scripted[CUSTOMER] = [f"550 5.1.1 <{CUSTOMER}>: no such user"]
    _post(service, *STORY[:3])  # the order, its payment, its first parcel: "shipped"
    alert_once(service.runtime)

    [event] = _ops_events(mock)
    assert event["type"] == "ops.notification_failed"
    data = event["data"]
    assert (data["channel"], data["kind"], data["recipient"]) == (
        "email",
        "shipped",
        "a***@example.com",
    )
    assert data["reason"].startswith("SMTP 550")
    assert CUSTOMER not in json.dumps(event), "the address is masked in the reason too"


def test_a_silent_source_is_told_once_per_silence(alerting):
    service, mock = alerting
    _post(service, shopify("orders_create"))
    now = datetime.now(UTC)

    alert_once(service.runtime, now + timedelta(hours=23))
    assert _ops_events(mock) == [], "not silent long enough yet"
    alert_once(service.runtime, now + timedelta(hours=25))
    alert_once(service.runtime, now + timedelta(hours=26))
    silent = [e["data"] for e in _ops_events(mock)]
    assert {e["type"] for e in _ops_events(mock)} == {"ops.source_silent"}
    assert [d["source"] for d in silent if d["last_received_at"]] == ["shopify"]
    # The other configured sources never spoke since the service first heard from anyone.
    never = sorted(d["source"] for d in silent if not d["last_received_at"])
    assert never == sorted(set(service.runtime.settings.webhook_secrets) - {"shopify"})

    _post(service, shopify("orders_paid"))  # it spoke again, then fell silent again
    spoke = datetime.now(UTC)
    alert_once(service.runtime, spoke + timedelta(hours=1))
    assert len(_ops_events(mock)) == len(silent), "speaking is not news"
    alert_once(service.runtime, spoke + timedelta(hours=25))
    later = [e["data"]["source"] for e in _ops_events(mock)[len(silent) :]]
    assert later == ["shopify"]


def test_the_digest_lists_the_alerts_once_an_hour_and_only_when_there_are_any(alerting, smtp):
    service, _ = alerting
    now = datetime.now(UTC)
    alert_once(service.runtime, now)
    assert smtp.to(MERCHANT_EMAIL) == [], "nothing to say, no email"

    _post(service, shopify("orders_create"), shopify("fulfillments_create"))
    _unknown_code(service, "evt_" + "a" * 32)
    alert_once(service.runtime, now + timedelta(minutes=1))
    [digest] = smtp.to(MERCHANT_EMAIL)
    body = digest.get_body(("plain",)).get_content()
    assert "ops.unknown_code" in body and "code=teleported" in body
    assert digest["Subject"].endswith("1 alert")

    _unknown_code(service, "evt_" + "b" * 32, "beamed")
    alert_once(service.runtime, now + timedelta(minutes=30))
    assert len(smtp.to(MERCHANT_EMAIL)) == 1, "at most one an hour"
    alert_once(service.runtime, now + timedelta(minutes=62))
    second = smtp.to(MERCHANT_EMAIL)[-1].get_body(("plain",)).get_content()
    assert len(smtp.to(MERCHANT_EMAIL)) == 2
    assert "code=beamed" in second and "teleported" not in second, "only what is new"
    alert_once(service.runtime, now + timedelta(hours=3))
    assert len(smtp.to(MERCHANT_EMAIL)) == 2, "nothing new, no email"


def _broken_event(service) -> int:
    """An event that can never be parsed: it fails for good on its first attempt."""
    broken = NewInboxRow(
        source="shopify",
        dedupe_key="broken-body-1",
        topic="orders/create",
        headers={},
        body=b'{"id": 5531234567890, "email": "ada@example.com"',
        handled=True,
    )
    with service.runtime.engine.begin() as connection:
        [inbox_id] = record(connection, [broken])
    service.runtime.actors.process_event.send(inbox_id)
    service.drain()
    return inbox_id


def test_an_alert_the_endpoint_refuses_is_retried_on_the_merchant_events_schedule(start):
    with responses.RequestsMock() as mock:
        mock.post(MERCHANT_URL, status=503)
        mock.post(MERCHANT_URL, status=204)
        service = start(MERCHANT_WEBHOOK_URL=MERCHANT_URL, MERCHANT_WEBHOOK_SECRET=MERCHANT_SECRET)
        _broken_event(service)
        now = datetime.now(UTC)

        alert_once(service.runtime, now)
        alert_once(service.runtime, now + timedelta(seconds=2))
        assert len(mock.calls) == 1, "not again before the schedule's first step (5 s)"
        alert_once(service.runtime, now + timedelta(seconds=6))
        alert_once(service.runtime, now + timedelta(hours=1))

        assert [c.response.status_code for c in mock.calls] == [503, 204]
        ids = {c.request.headers["webhook-id"] for c in mock.calls}
        assert len(ids) == 1, "one event, one webhook-id on every attempt"
        assert [e["type"] for e in _ops_events(mock)] == ["ops.event_failed"] * 2
