"""Issue 4's story through the real queue: a private Redis, the Dramatiq worker loop,
PostgreSQL, a real SMTP server; Twilio and the merchant's endpoint, third parties, played by
`responses`. One order, two parcels, both delivered: exactly the expected emails, texts and
merchant webhooks, each once; the merchant's verified with the reference Standard Webhooks
package; Twilio's status callbacks mark texts delivered; an unsubscribe link that works."""

import base64
import hashlib
import hmac
import json
import re
from urllib.parse import urlencode

import pytest
import responses
from standardwebhooks.webhooks import Webhook

from tests.support.harness import start_service
from tests.support.processes import RedisServer
from tests.support.webhooks import ORDER_ID, STORY, fixture_body, shopify
from workers.sweeper import alert_once

CUSTOMER, PHONE = "ada@example.com", "+15555550142"
ACCOUNT, AUTH_TOKEN, FROM = "AC" + "0f" * 16, "twilio-auth-token-test", "+15005550006"
MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
#: A public address: the SSRF guard lets it through without a DNS lookup.
MERCHANT_URL = "https://93.184.215.14/ordertrack-events"
MERCHANT_SECRET = "whsec_" + base64.b64encode(b"m" * 32).decode()


def _consenting_order() -> bytes:
    order = json.loads(fixture_body("shopify", "orders_create"))
    order["customer"]["sms_marketing_consent"] = {"state": "subscribed"}
    return json.dumps(order).encode()


@pytest.fixture
def queued(postgres_url, base_env, smtp, monkeypatch, tmp_path):
    server = RedisServer(tmp_path).start()
    env = {
        "REDIS_URL": server.url,
        "DATABASE_URL": postgres_url,
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM": FROM,
        "MERCHANT_WEBHOOK_URL": MERCHANT_URL,
        "MERCHANT_WEBHOOK_SECRET": MERCHANT_SECRET,
        "SMS_QUIET_HOURS": "off",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        texts = iter(range(1, 100))
        mock.add_callback(
            responses.POST,
            MESSAGES_URL,
            callback=lambda request: (201, {}, json.dumps({"sid": f"SM{next(texts):032x}"})),
        )
        mock.post(MERCHANT_URL, status=204)
        service = start_service()
        yield service, mock
        service.stop()
    server.stop()


def _texts(mock) -> list[dict[str, str]]:
    from urllib.parse import parse_qsl

    return [dict(parse_qsl(c.request.body)) for c in mock.calls if c.request.url == MESSAGES_URL]


def _events(mock) -> list[dict]:
    calls = [c for c in mock.calls if c.request.url == MERCHANT_URL]
    verifier = Webhook(MERCHANT_SECRET)
    return [verifier.verify(c.request.body, dict(c.request.headers)) for c in calls]


def _post_story(service) -> None:
    requests = [shopify("orders_create", _consenting_order()), *STORY[1:]]
    for request in requests:  # one at a time, as they happen
        assert service.post(request).status_code == 202, request.name
        service.drain()


def test_one_order_tells_the_customer_and_the_merchant_each_thing_once(queued, smtp):
    service, mock = queued
    _post_story(service)
    for request in STORY[4:]:  # the carrier's reports again: redelivered, changing nothing
        assert service.post(request).status_code == 200
    service.drain()

    # Each parcel's news, once, naming the parcel: the first left while items waited to ship.
    subjects = [m["Subject"] for m in smtp.to(CUSTOMER)]
    assert [s.split(" ", 3)[-1] for s in subjects] == [
        "has shipped (parcel 1, more to follow)",
        "has shipped (parcel 2 of 2)",
        "is out for delivery (parcel 1 of 2)",
        "was delivered (parcel 1 of 2)",
        "is out for delivery (parcel 2 of 2)",
        "was delivered (parcel 2 of 2)",
    ]
    # Every message links to the order's own tracking page, which opens.
    body = smtp.to(CUSTOMER)[-1].get_body(("plain",)).get_content()
    page = re.search(r"Follow your order: http://shop\.test(/t/\S+)", body).group(1)
    opened = service.client.get(page)
    assert opened.status_code == 200 and "#1042" in opened.text

    texts = _texts(mock)
    assert [t["To"] for t in texts] == [PHONE] * 4  # out for delivery, delivered; per parcel
    for text in texts:  # the link is dated when written, so each message has its own
        link = re.search(r"http://shop\.test(/t/\S+)", text["Body"]).group(1)
        assert "#1042" in service.client.get(link).text
    assert {t["From"] for t in texts} == {FROM}
    assert "out for delivery" in texts[0]["Body"] and "#1042" in texts[0]["Body"]
    assert "delivered" in texts[1]["Body"] and "(parcel 1 of 2)" in texts[1]["Body"]
    assert "out for delivery" in texts[2]["Body"] and "(parcel 2 of 2)" in texts[2]["Body"]
    assert texts[0]["StatusCallback"].startswith("http://shop.test/webhooks/twilio?outbox=")

    events = _events(mock)
    assert [e["type"] for e in events if e["type"].startswith("order.")] == [
        "order.received",
        "order.processing",
        "order.shipped",
        "order.in_transit",
        "order.out_for_delivery",
        "order.delivered",
    ]
    parcels = [
        (e["data"]["shipment"]["tracking_number"], e["type"])
        for e in events
        if e["type"].startswith("shipment.")
    ]
    for number in ("9400111899223344556677", "1Z999AA10123456784"):
        assert [event for parcel, event in parcels if parcel == number] == [
            "shipment.label_created",
            "shipment.in_transit",
            "shipment.out_for_delivery",
            "shipment.delivered",
        ], number
    carriers = {e["data"]["shipment"]["carrier"] for e in events if "shipment" in e["data"]}
    assert carriers == {"USPS", "UPS"}
    assert "email" not in json.dumps(_events(mock)), "the merchant's events carry no address"
    notifications = service.order(ORDER_ID)["notifications"]
    assert all(n["status"] == "sent" for n in notifications), notifications
    assert {n["recipient"] for n in notifications if n["channel"] == "sms"} == {"+1555***0142"}


def _twilio_signature(url: str, params: dict[str, str]) -> str:
    """Twilio's documented scheme: the URL, then each parameter's name and value, sorted."""
    signed = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(AUTH_TOKEN.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _callback(service, sid: str, status: str, error: str | None = None):
    params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": ACCOUNT, "To": PHONE}
    if error:
        params["ErrorCode"] = error
    url = "http://shop.test/webhooks/twilio"
    headers = {"X-Twilio-Signature": _twilio_signature(url, params)}
    return service.client.post(
        "/webhooks/twilio",
        data=urlencode(params),
        headers=headers | {"Content-Type": "application/x-www-form-urlencoded"},
    )


def test_twilios_status_callbacks_mark_texts_delivered_or_failed_and_forgeries_are_refused(
    queued,
):
    service, mock = queued
    _post_story(service)
    first, second = [f"SM{n:032x}" for n in (1, 2)]

    assert _callback(service, first, "delivered").status_code == 200
    assert _callback(service, second, "undelivered", "30003").status_code == 200
    assert _callback(service, first, "sent").json["status"] == "unchanged", "never backwards"
    forged = _callback(service, second, "delivered")
    forged_headers = {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
    refused = service.client.post(
        "/webhooks/twilio",
        data=urlencode({"MessageSid": second, "MessageStatus": "delivered"}),
        headers=forged_headers | {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert refused.status_code == 401 and "error" in refused.json
    assert forged.json["status"] == "unchanged"

    texts = [n for n in service.order(ORDER_ID)["notifications"] if n["channel"] == "sms"]
    assert [(t["status"], t["reason"]) for t in texts] == [
        ("delivered", None),
        ("failed", "Twilio: undelivered (error 30003)"),
        ("sent", None),  # the second parcel's news, not called back
        ("sent", None),
    ]
    failed = service.api("/api/v1/notifications?status=failed").json["notifications"]
    assert [(n["channel"], n["order"]["external_id"]) for n in failed] == [("sms", ORDER_ID)]

    # A text failed for good is an alert: the merchant hears of it, the number masked.
    alert_once(service.runtime)
    [alert] = [e for e in _events(mock) if e["type"] == "ops.notification_failed"]
    assert (alert["data"]["channel"], alert["data"]["recipient"]) == ("sms", "+1555***0142")
    assert alert["data"]["reason"] == "Twilio: undelivered (error 30003)"


def test_the_unsubscribe_link_in_an_email_works_and_later_news_is_not_emailed(queued, smtp):
    service, _ = queued
    for request in [shopify("orders_create", _consenting_order()), *STORY[1:3]]:
        assert service.post(request).status_code == 202
        service.drain()
    (shipped,) = smtp.to(CUSTOMER)
    link = re.search(
        r"http://shop\.test(/unsubscribe/\S+)", shipped.get_body(("plain",)).get_content()
    )
    assert shipped["List-Unsubscribe"].strip() == f"<http://shop.test{link.group(1)}>"
    assert shipped["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    page = service.client.get(link.group(1))
    assert page.status_code == 200 and "<form" in page.text, "a GET only asks"
    assert service.client.post(link.group(1)).status_code == 200
    assert service.client.post(link.group(1) + "x").status_code == 404

    for request in STORY[3:]:
        assert service.post(request).status_code == 202
        service.drain()
    assert len(smtp.to(CUSTOMER)) == 1, "nothing more by email"
    emails = [n for n in service.order(ORDER_ID)["notifications"] if n["channel"] == "email"]
    # The second parcel's shipped, then out for delivery and delivered of each parcel.
    assert [n["reason"] for n in emails[1:]] == ["the recipient unsubscribed"] * 5
