"""Matrix rows SMS-1 to SMS-5: how the SMS channel ends each answer Twilio can give to a create
(docs/reliability.md, "Retry, give up, or ambiguous": a 429 is never processed and safe to
retry, a 5xx may have sent the text, a 400 is final), and what its status callbacks may change.
Twilio, a third party, is played by `responses` (tests/support/twilio.py: it keeps and lists the
texts it created); the whole service (in-process queue, two worker threads) runs on PostgreSQL.
N = 1: each row is one text and what the channel makes of one answer."""

import base64
import hashlib
import hmac
import itertools
from contextlib import ExitStack
from urllib.parse import urlencode

import pytest
import responses
from sqlalchemy import select

from ordertrack.store.models import Outbox
from tests.support import twilio
from tests.support.channel_faults import (
    INVALID_TO,
    THROTTLED_2S,
    THROTTLED_BARE,
    FaultyTwilio,
    emptied,
    finished,
    module_database,
    out_for_delivery,
    running,
)

PHONE = "+15555550142"
#: Short retry backoff for the rows that count on it (SMS-2), long enough to be measured.
MIN_BACKOFF_MS = 250


@pytest.fixture(scope="module")
def database():
    with module_database() as url:
        yield url


@pytest.fixture
def texting(database, base_env, monkeypatch):
    """Start the service, texts on, on the emptied database; Twilio scripted by the test."""
    fake = FaultyTwilio()
    with ExitStack() as stack:
        mock = stack.enter_context(responses.RequestsMock(assert_all_requests_are_fired=False))
        fake.install(mock)

        def _start(**env: str):
            settings = twilio.ENV | env
            return stack.enter_context(running(monkeypatch, emptied(database), **settings))

        yield _start, fake


def _outcomes(text: dict) -> list[str]:
    return [attempt["outcome"] for attempt in text["attempt_log"]]


def _gaps(fake: FaultyTwilio) -> list[float]:
    times = [at for at, _ in fake.posts]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


@pytest.mark.fault("SMS-1")
def test_a_429_with_retry_after_is_retried_no_sooner_than_asked_and_texts_once(texting, figures):
    start, fake = texting
    fake.script = [THROTTLED_2S]
    service = start()

    out_for_delivery(service)
    [text] = finished(service, "sms")

    assert text["status"] == "sent"
    assert _outcomes(text) == ["retry", "sent"]
    assert len(fake.posts) == 2
    [gap] = _gaps(fake)
    assert gap >= 2.0, "Retry-After: 2 is honoured"
    assert len(fake.messages) == 1
    assert fake.lookups == [], "a 429 was never processed: nothing to look for"
    figures.add("second POST after", f"{gap:.2f} s")
    figures.add("messages", len(fake.messages))


@pytest.mark.fault("SMS-2")
def test_429s_without_retry_after_back_off_exponentially_and_text_once(texting, figures):
    start, fake = texting
    fake.script = [THROTTLED_BARE] * 3
    service = start(
        MAX_ATTEMPTS="5",
        RETRY_MIN_BACKOFF_MS=str(MIN_BACKOFF_MS),
        RETRY_MAX_BACKOFF_MS="10000",
    )

    out_for_delivery(service)
    [text] = finished(service, "sms")

    assert text["status"] == "sent"
    assert _outcomes(text) == ["retry", "retry", "retry", "sent"]
    assert len(fake.posts) == 4
    gaps = _gaps(fake)
    base = MIN_BACKOFF_MS / 1000
    for retry, gap in enumerate(gaps):
        # Dramatiq's backoff: base * 2**retry, jittered up to twice that, never below.
        assert gap >= base * 2**retry, f"retry {retry + 1} came {gap:.3f} s after the last"
    assert gaps[2] > gaps[0], "the waits grow"
    assert len(fake.messages) == 1
    assert fake.lookups == []
    figures.add("gaps", " < ".join(f"{gap * 1000:.0f}" for gap in gaps) + " ms")
    figures.add("min backoff", f"{MIN_BACKOFF_MS} ms")
    figures.add("messages", len(fake.messages))


@pytest.mark.fault("SMS-3")
def test_a_text_twilio_created_before_its_500_is_found_and_recorded_sent_without_a_second_post(
    texting, figures
):
    start, fake = texting
    fake.script = [twilio.CREATED_THEN_500]
    service = start()

    out_for_delivery(service)
    [text] = finished(service, "sms")

    assert len(fake.posts) == 1, "the text Twilio created is not sent again"
    assert len(fake.messages) == 1
    [lookup] = fake.lookups
    assert lookup["To"] == [PHONE]
    assert text["status"] == "sent"
    assert _outcomes(text) == ["ambiguous", "sent"]
    with service.runtime.sessions() as session:
        sid = session.scalars(select(Outbox.provider_message_id).where(Outbox.channel == "sms"))
        assert sid.one() == fake.messages[0]["sid"]
    figures.add("messages at Twilio", len(fake.messages))
    figures.add("POSTs", len(fake.posts))


@pytest.mark.fault("SMS-4")
def test_a_400_21211_fails_at_once_and_is_never_retried(texting, figures):
    start, fake = texting
    fake.script = [INVALID_TO]
    service = start()

    out_for_delivery(service)
    [text] = finished(service, "sms")
    service.drain()  # nothing on any queue, the delay queue included: no retry scheduled

    assert text["status"] == "failed"
    assert text["attempts"] == 1
    assert _outcomes(text) == ["failed"]
    assert "21211" in text["reason"]
    assert PHONE not in text["reason"] and PHONE[2:] not in text["reason"], "number masked"
    assert len(fake.posts) == 1
    assert fake.messages == [] and fake.lookups == []
    figures.add("attempts", text["attempts"])
    figures.add("POSTs", len(fake.posts))


def _callback(service, outbox_id: int, params: dict[str, str], *, signature: str | None = None):
    """Twilio's status callback to the URL we gave it, signed as Twilio signs it (the URL,
    then every parameter by name), unless the test forges the signature."""
    if signature is None:
        signature = _signature(twilio.AUTH_TOKEN, _callback_url(outbox_id), params)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature:
        headers["X-Twilio-Signature"] = signature
    return service.client.post(
        f"/webhooks/twilio?outbox={outbox_id}", data=urlencode(params), headers=headers
    )


def _callback_url(outbox_id: int) -> str:
    return f"http://shop.test/webhooks/twilio?outbox={outbox_id}"


def _signature(token: str, url: str, params: dict[str, str]) -> str:
    signed = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _row(service) -> Outbox:
    with service.runtime.sessions() as session:
        return session.scalars(select(Outbox).where(Outbox.channel == "sms")).one()


@pytest.mark.fault("SMS-5")
def test_forged_status_callbacks_are_refused_and_a_valid_one_repeated_is_applied_once(
    texting, figures
):
    start, fake = texting
    service = start()
    out_for_delivery(service)
    [text] = finished(service, "sms")
    assert text["status"] == "sent"
    row = _row(service)
    [message] = fake.messages
    delivered = {"MessageSid": message["sid"], "MessageStatus": "delivered", "To": PHONE}
    url = _callback_url(row.id)

    forgeries = {
        "no signature": "",
        "another account's token": _signature("not-our-auth-token", url, delivered),
        "signed for other parameters": _signature(
            twilio.AUTH_TOKEN, url, delivered | {"MessageStatus": "queued"}
        ),
        "signed for another message's URL": _signature(
            twilio.AUTH_TOKEN, _callback_url(row.id + 1), delivered
        ),
    }
    for what, signature in forgeries.items():
        refused = _callback(service, row.id, delivered, signature=signature)
        # The project answers every bad signature 401 (rows SIG-4, I5); 2xx never.
        assert refused.status_code == 401, what
        assert _row(service).status == "sent", f"{what} changed nothing"

    first = _callback(service, row.id, delivered)
    applied = _row(service)
    repeats = [_callback(service, row.id, delivered) for _ in range(2)]
    answers = [first, *repeats]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json["status"] for a in answers] == ["recorded", "unchanged", "unchanged"]
    assert applied.status == "delivered"
    assert applied.provider_message_id == message["sid"]
    assert applied.touched_at > row.touched_at
    late = _callback(service, row.id, delivered | {"MessageStatus": "undelivered"})
    assert late.json["status"] == "unchanged", "never backwards"
    final = _row(service)
    assert (final.status, final.touched_at) == ("delivered", applied.touched_at), "written once"
    figures.add("forged", f"{len(forgeries)} x 401, 0 changes")
    figures.add("valid x3", "applied 1, unchanged 2")
