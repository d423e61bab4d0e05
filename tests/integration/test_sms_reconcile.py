"""A text whose sending was ambiguous (Twilio answered 5xx, or did not answer in time) is looked
up in Twilio's Messages list before it is sent again, so a text Twilio did create goes to the
customer once; a refusal that says nothing was sent (429) is retried without a look.

Through the service on both databases (the in-process queue, the real worker loop), Twilio
played by `responses` (tests/support/twilio.py): it keeps the texts it created and lists them.
A text Twilio created before answering 500 is matrix row SMS-3 (tests/faults/test_sms_faults.py)."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
import responses
from sqlalchemy import delete, select, update

from ordertrack.store.models import Inbox, Outbox, OutboxAttempt
from tests.support import twilio
from tests.support.harness import start_service
from tests.support.webhooks import ORDER_ID, easypost, fixture_body, shopify
from workers.actors import TryAgain
from workers.sweeper import sweep_once

PHONE = "+15555550142"


def _consenting_order():
    order = json.loads(fixture_body("shopify", "orders_create"))
    order["customer"]["sms_marketing_consent"] = {"state": "subscribed"}
    return shopify("orders_create", json.dumps(order).encode())


@pytest.fixture
def texting(start):
    """The service with texts on, and Twilio scripted by the test."""
    fake = twilio.FakeTwilio()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        service = start(**twilio.ENV)
        yield service, fake


def _out_for_delivery(service) -> None:
    """The story up to the first parcel out for delivery: one text goes out."""
    requests = [
        _consenting_order(),
        shopify("fulfillments_create"),
        easypost("tracker_updated__out_for_delivery"),
    ]
    for request in requests:
        assert service.post(request).status_code == 202, request.name
        service.drain()


def _text(service) -> dict:
    [text] = [n for n in service.order(ORDER_ID)["notifications"] if n["channel"] == "sms"]
    return text


def test_a_text_that_timed_out_and_is_not_in_twilios_list_is_sent_once_more(texting):
    service, fake = texting
    fake.script = [twilio.TIMEOUT]

    _out_for_delivery(service)

    assert len(fake.posts) == 2, "looked up, not found, so sent again: once"
    assert len(fake.lookups) == 1
    assert len(fake.messages) == 1
    text = _text(service)
    assert text["status"] == "sent"
    assert [a["outcome"] for a in text["attempt_log"]] == ["ambiguous", "sent"]


def test_a_429_is_retried_after_retry_after_without_a_lookup(texting):
    service, fake = texting
    fake.script = [twilio.THROTTLED]

    _out_for_delivery(service)

    assert fake.lookups == [], "Twilio never processes a 429: nothing to look for"
    assert len(fake.posts) == 2
    (first, _), (second, _) = fake.posts
    assert second - first >= 0.9, "Retry-After: 1 is honoured"
    assert [a["outcome"] for a in _text(service)["attempt_log"]] == ["retry", "sent"]


def test_a_text_sent_by_a_worker_that_died_before_recording_it_is_found_not_sent_again(
    texting,
):
    service, fake = texting
    _out_for_delivery(service)
    assert len(fake.posts) == 1
    # What a worker killed after Twilio's 201, before its commit, leaves: the row `sending`,
    # its attempt unrecorded; and then its lease runs out.
    with service.runtime.sessions.begin() as session:
        session.execute(
            update(Outbox)
            .where(Outbox.channel == "sms")
            .values(
                status="sending",
                sent_at=None,
                provider_message_id=None,
                touched_at=datetime.now(UTC) - timedelta(hours=1),
            )
        )
        sms_rows = select(Outbox.id).where(Outbox.channel == "sms")
        session.execute(delete(OutboxAttempt).where(OutboxAttempt.outbox_id.in_(sms_rows)))

    assert sweep_once(service.runtime)[1] >= 1
    service.drain()

    assert len(fake.posts) == 1, "found in Twilio's list: not sent twice"
    text = _text(service)
    assert text["status"] == "sent"
    assert [a["outcome"] for a in text["attempt_log"]] == ["unknown", "sent"]


@pytest.fixture
def idle(database_url, base_env, smtp, monkeypatch):
    """The service with no worker: the test calls the send actor itself."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    for name, value in twilio.ENV.items():
        monkeypatch.setenv(name, value)
    fake = twilio.FakeTwilio()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        service = start_service(with_worker=False)
        yield service, fake
        service.stop()


def _signed_callback(service, outbox_id: int, params: dict[str, str]):
    """Twilio's status callback, signed as Twilio signs it (URL, then sorted parameters)."""
    url = f"http://shop.test/webhooks/twilio?outbox={outbox_id}"
    signed = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(twilio.AUTH_TOKEN.encode(), signed.encode(), hashlib.sha1).digest()
    return service.client.post(
        f"/webhooks/twilio?outbox={outbox_id}",
        data=urlencode(params),
        headers={
            "X-Twilio-Signature": base64.b64encode(digest).decode(),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )


def test_a_status_callback_for_a_text_whose_create_answered_500_settles_it(idle):
    service, fake = idle
    fake.script = [twilio.CREATED_THEN_500]
    for request in [
        _consenting_order(),
        shopify("fulfillments_create"),
        easypost("tracker_updated__out_for_delivery"),
    ]:
        assert service.post(request).status_code == 202
        with service.runtime.sessions() as session:
            inbox_id = session.scalars(select(Inbox.id).order_by(Inbox.id.desc())).first()
        service.runtime.actors.process_event.fn(inbox_id)
    with service.runtime.sessions() as session:
        outbox_id = session.scalars(select(Outbox.id).where(Outbox.channel == "sms")).one()
    with pytest.raises(TryAgain):
        service.runtime.actors.send_notification.fn(outbox_id)
    assert _text(service)["status"] == "ambiguous"

    [message] = fake.messages  # Twilio did create it, and now says so
    params = {"MessageSid": message["sid"], "MessageStatus": "delivered", "To": PHONE}
    assert _signed_callback(service, outbox_id, params).json["status"] == "recorded"
    service.runtime.actors.send_notification.fn(outbox_id)  # the retry: nothing left to do

    assert _text(service)["status"] == "delivered"
    assert (len(fake.posts), fake.lookups) == (1, [])
