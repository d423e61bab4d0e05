"""The policy at work, through the service on both databases (the in-process queue): texts in
quiet hours wait for the morning in the customer's own zone and then go; news landing
together goes out as one message about the latest; a merchant endpoint that fails is retried,
every attempt recorded; one that is gone fails for good and can be resent."""

import base64
import hashlib
import hmac
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

    # Due now all the same (a retry, a resend, the sweeper catching up): still quiet hours
    # where the customer is, so it is put back, not sent.
    _make_due(service)
    sweep_once(service.runtime)
    wait_for(lambda: _rows(service, "sms")[0].due_at > datetime.now(UTC), timeout=20, what="defer")
    assert (_rows(service, "sms")[0].status, _rows(service, "sms")[0].attempts) == ("pending", 0)
    assert not [c for c in api.calls if c.request.url == MESSAGES_URL]

    # The morning comes (quiet hours now behind us, the row due): the sweeper sends it.
    service = start(**TWILIO, SMS_QUIET_HOURS="off")
    _make_due(service)
    sweep_once(service.runtime)
    wait_for(lambda: _sent(service, "sms", "out_for_delivery"), timeout=20, what="the text")
    assert len([c for c in api.calls if c.request.url == MESSAGES_URL]) == 1


def _make_due(service) -> None:
    """Move the text's due time (not the clock) to the past, and let the sweeper see it."""
    past = datetime.now(UTC) - timedelta(hours=1)
    with service.runtime.sessions.begin() as session:
        session.execute(update(Outbox).values(due_at=past + timedelta(minutes=59), touched_at=past))


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
    # The retry waits the schedule's first step (5 s), held by the queue and the row's due time.
    wait_for(lambda: _sent(service, "merchant_webhook", "order.received"), timeout=30, what="retry")
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


def _text_story(service) -> None:
    """A consenting customer's only parcel goes out for delivery: one text is due."""
    consenting = shopify("orders_create", _consenting("orders_create"))
    _post(service, consenting, *_one_parcel_order()[1:])
    _post(service, STORY[7])


def _text(service) -> dict:
    (text,) = [n for n in service.order(ORDER_ID)["notifications"] if n["channel"] == "sms"]
    return text


def test_twilio_throttling_is_retried_after_its_retry_after(start):
    with responses.RequestsMock() as twilio:
        twilio.post(MESSAGES_URL, status=429, headers={"Retry-After": "0"}, json={"code": 20429})
        twilio.post(MESSAGES_URL, status=201, json={"sid": "SM" + "b" * 32})
        service = start(**TWILIO, SMS_QUIET_HOURS="off")
        _text_story(service)
    text = _text(service)
    assert (text["status"], [a["outcome"] for a in text["attempt_log"]]) == (
        "sent",
        ["retry", "sent"],
    )


def test_an_invalid_number_fails_for_good_with_twilios_reason_and_no_number_in_it(start):
    error = json.loads(fixture_body("twilio", "error__21211_invalid_to"))
    with responses.RequestsMock() as twilio:
        twilio.post(MESSAGES_URL, status=400, json=error)
        service = start(**TWILIO, SMS_QUIET_HOURS="off")
        _text_story(service)
    text = _text(service)
    assert (text["status"], text["attempts"]) == ("failed", 1)
    assert "21211" in text["reason"] and "5555550142" not in text["reason"]


def test_a_customer_who_replied_stop_is_never_texted_again(start):
    error = json.loads(fixture_body("twilio", "error__21610_unsubscribed"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as twilio:
        twilio.post(MESSAGES_URL, status=400, json=error)
        service = start(**TWILIO, SMS_QUIET_HOURS="off")
        _text_story(service)
        _post(service, STORY[8])  # delivered: news for a text, but the number said STOP
        texts = [n for n in service.order(ORDER_ID)["notifications"] if n["channel"] == "sms"]
        assert [(t["status"], t["attempts"]) for t in texts] == [("failed", 1), ("skipped", 1)]
        assert texts[1]["reason"] == "the recipient unsubscribed"
        assert len(twilio.calls) == 1


def test_a_status_callback_that_comes_before_the_send_is_recorded_still_counts(start):
    with responses.RequestsMock() as twilio:
        twilio.post(MESSAGES_URL, status=201, json={"sid": "SM" + "c" * 32})
        service = start(**TWILIO, SMS_QUIET_HOURS="off")
        _text_story(service)
    (row,) = _rows(service, "sms")
    with service.runtime.sessions.begin() as session:  # as if still being recorded
        session.execute(update(Outbox).values(status="sending", provider_message_id=None))
    params = {"MessageSid": "SM" + "c" * 32, "MessageStatus": "failed", "ErrorCode": "30008"}
    url = f"http://shop.test/webhooks/twilio?outbox={row.id}"
    signed = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(b"t", signed.encode(), hashlib.sha1).digest()
    answer = service.client.post(
        f"/webhooks/twilio?outbox={row.id}",
        data=params,
        headers={"X-Twilio-Signature": base64.b64encode(digest).decode()},
    )
    assert answer.status_code == 200 and answer.json["status"] == "recorded"
    assert _text(service)["status"] == "failed"
