"""The policy at work, through the service on both databases (the in-process queue): texts in
quiet hours wait for the morning in the customer's own zone and then go; news landing
together goes out as one message about the latest; a merchant endpoint that fails is retried,
every attempt recorded; one that is gone fails for good and can be resent."""

import base64
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import responses
from sqlalchemy import update

from ordertrack.store.models import Outbox
from tests.support.processes import wait_for
from tests.support.webhooks import ORDER_ID, STORY, fixture_body, shopify
from workers.sweeper import sweep_once

CUSTOMER = "ada@example.com"
ACCOUNT = "AC" + "0f" * 16
MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
MERCHANT_URL = "https://93.184.215.14/ordertrack-events"
TWILIO = {"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": "t", "TWILIO_FROM": "+15005550006"}
MERCHANT = {
    "MERCHANT_WEBHOOK_URL": MERCHANT_URL,
    "MERCHANT_WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"m" * 32).decode(),
}


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(MESSAGES_URL, status=201, json={"sid": "SM" + "a" * 32})
        yield mock


def _consenting(name: str) -> bytes:
    order = json.loads(fixture_body("shopify", name))
    order["customer"]["sms_marketing_consent"] = {"state": "subscribed"}
    return json.dumps(order).encode()


def _post(service, *requests) -> None:
    for request in requests:
        assert service.post(request).status_code == 202, request.name
        service.drain()


def _rows(service, channel: str) -> list[Outbox]:
    with service.runtime.sessions() as session:
        query = session.query(Outbox).filter(Outbox.channel == channel).order_by(Outbox.id)
        return query.all()


def test_a_text_due_in_quiet_hours_waits_for_their_end_in_the_customers_zone(start, api):
    new_york = datetime.now(UTC).astimezone(ZoneInfo("America/New_York"))
    start_at, end_at = new_york - timedelta(hours=1), new_york + timedelta(hours=2)
    quiet = f"{start_at:%H:%M}-{end_at:%H:%M}"
    service = start(**TWILIO, SMS_QUIET_HOURS=quiet, SHOP_TIMEZONE="Europe/Berlin")
    _post(service, shopify("orders_create", _consenting("orders_create")), *STORY[1:3])
    # USPS out for delivery: the email goes now, the text after quiet hours (the queue holds
    # it until then, so there is no waiting for the queue to empty here).
    assert service.post(STORY[7]).status_code == 202
    wait_for(lambda: _sent(service, "email", "out_for_delivery"), timeout=20, what="the email")

    (text,) = _rows(service, "sms")
    expected = end_at.replace(second=0, microsecond=0).astimezone(UTC)
    assert text.status == "pending" and abs(text.due_at - expected) < timedelta(seconds=1)
    assert not [c for c in api.calls if c.request.url == MESSAGES_URL], "not during quiet hours"

    # The morning comes (the row's due time is moved, not the clock): the sweeper sends it.
    with service.runtime.sessions.begin() as session:
        session.execute(update(Outbox).values(due_at=datetime.now(UTC) - timedelta(seconds=1)))
        session.execute(update(Outbox).values(touched_at=datetime.now(UTC) - timedelta(hours=1)))
    sweep_once(service.runtime)
    wait_for(lambda: _sent(service, "sms", "out_for_delivery"), timeout=20, what="the text")
    assert len([c for c in api.calls if c.request.url == MESSAGES_URL]) == 1


def _sent(service, channel: str, kind: str) -> bool:
    return any(
        n["channel"] == channel and n["kind"] == kind and n["status"] == "sent"
        for n in service.order(ORDER_ID)["notifications"]
    )


def _one_parcel_order() -> list:
    """Order #1042 shipped whole in its first parcel."""
    items = json.loads(fixture_body("shopify", "orders_create"))["line_items"]
    fulfillment = json.loads(fixture_body("shopify", "fulfillments_create"))
    fulfillment["line_items"] = items
    return [*STORY[:2], shopify("fulfillments_create", json.dumps(fulfillment).encode())]


def test_news_landing_together_sends_one_message_about_the_latest(start, smtp):
    service = start(NOTIFY_COALESCE_SECONDS="1")
    _post(service, *_one_parcel_order())
    assert [m["Subject"] for m in smtp.to(CUSTOMER)] == ["Your order #1042 has shipped"]
    # USPS out for delivery and delivered, seconds apart: only "delivered" is worth telling.
    for request in (STORY[7], STORY[8]):
        assert service.post(request).status_code == 202
    service.drain()
    subjects = [m["Subject"] for m in smtp.to(CUSTOMER)]
    assert subjects[1:] == ["Your order #1042 was delivered"], subjects
    # Processed in arrival order, "out for delivery" was queued and then skipped as stale;
    # the other way round, the older scan announced nothing at all.
    emails = {n["kind"]: n["status"] for n in service.order(ORDER_ID)["notifications"]}
    assert emails.get("out_for_delivery", "skipped") == "skipped"


def test_a_failing_merchant_endpoint_is_retried_and_every_attempt_recorded(start, api):
    api.post(MERCHANT_URL, status=503, headers={"Retry-After": "0"})
    api.post(MERCHANT_URL, status=204)
    service = start(**MERCHANT)
    _post(service, STORY[0])
    (event,) = [n for n in service.order(ORDER_ID)["notifications"] if n["channel"] != "email"]
    assert (event["kind"], event["status"], event["recipient"]) == (
        "order.received",
        "sent",
        "merchant",
    )
    assert [a["outcome"] for a in event["attempt_log"]] == ["retry", "sent"]
    assert "503" in event["attempt_log"][0]["reason"]


def test_a_gone_endpoint_fails_for_good_is_listed_and_can_be_resent(start, api):
    api.post(MERCHANT_URL, status=410)
    service = start(**MERCHANT)
    _post(service, STORY[0])
    failed = service.api("/api/v1/notifications?status=failed").json["notifications"]
    assert [(n["kind"], n["attempts"]) for n in failed] == [("order.received", 1)]
    assert "gone" in failed[0]["reason"]

    api.replace(responses.POST, MERCHANT_URL, status=204)
    token = {"Authorization": "Bearer test-api-token"}
    resent = service.client.post(f"/api/v1/notifications/{failed[0]['id']}/resend", headers=token)
    assert resent.status_code == 202
    service.drain()
    again = service.client.post(f"/api/v1/notifications/{failed[0]['id']}/resend", headers=token)
    assert again.status_code == 409, "only a failed message can be resent"
    assert service.api("/api/v1/notifications?status=failed").json["notifications"] == []
    (event,) = [n for n in service.order(ORDER_ID)["notifications"] if n["channel"] != "email"]
    assert event["status"] == "sent"
    assert service.api("/api/v1/notifications?status=nonsense").status_code == 400
