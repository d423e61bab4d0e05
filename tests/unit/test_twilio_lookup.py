"""The look-up before retrying an ambiguous text, against Twilio's Messages list played by
`responses`: which request, which texts count as ours (this number, this sender, this text
whatever its link, written since the row was), and what happens when Twilio cannot be asked."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import responses
from responses import matchers

from ordertrack.notifications import sms, twilio_lookup
from ordertrack.notifications.errors import DeliveryError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "twilio"
ACCOUNT_SID = "AC0f1e2d3c4b5a69788796a5b4c3d2e1f0"
AUTH_TOKEN = "f3c9a1e07b5d4c2a8e6f1b3d5c7a9e0b"
TO = "+15555550142"
MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
CONFIG = sms.TwilioConfig(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, sender="+15005550006")
#: The text as sent on this attempt: its tracking link is signed anew each time.
BODY = (
    "Ordertrack Demo: your order #1042 is out for delivery with USPS (9400111899223344556677)."
    " Track it: https://track.example.com/t/xyz"
)
#: When the outbox row was written: the fixture's text was created a few seconds later.
SINCE = datetime(2026, 11, 4, 13, 0, 0, tzinfo=UTC)


def created(**changes) -> dict:
    """The fixture's text (sent on an earlier attempt, with that attempt's link), changed."""
    message = json.loads((FIXTURES / "message_created.json").read_text(encoding="utf-8"))
    return message | changes


def listing(*messages: dict) -> None:
    page = {"messages": list(messages), "page": 0, "page_size": 50, "next_page_uri": None}
    query = matchers.query_param_matcher({"To": TO, "PageSize": "50"})
    responses.add(responses.GET, MESSAGES_URL, json=page, match=[query])


def find(config: sms.TwilioConfig = CONFIG, since: datetime = SINCE) -> str | None:
    return twilio_lookup.find_sent(config, TO, BODY, since=since)


@responses.activate
def test_the_text_created_on_an_earlier_attempt_is_found_whatever_its_link():
    listing(created())

    assert find() == "SM8c1b5e0d6f2a4c3b9e7d1a0f5c2b4e6d"
    [call] = responses.calls
    assert call.request.headers["Authorization"].startswith("Basic ")
    assert "DateSent" not in call.request.url, "a queued text has no date_sent yet"


@pytest.mark.parametrize(
    "other",
    [
        {"to": "+15555550199"},
        {"direction": "inbound"},
        {"from": "+15005550009"},
        {
            "body": "Ordertrack Demo: your order #1042 was delivered. Track it: https://t.example/t/a"
        },
        {"date_created": "Tue, 03 Nov 2026 13:00:02 +0000"},
    ],
    ids=["another number", "inbound", "another sender", "another text", "before the row"],
)
@responses.activate
def test_a_text_that_is_not_this_one_is_not_taken_for_it(other):
    listing(created(**other))
    assert find() is None


@responses.activate
def test_a_messaging_service_sender_is_matched_on_its_sid():
    service = sms.TwilioConfig(ACCOUNT_SID, AUTH_TOKEN, "MG" + "1" * 32)
    listing(created(**{"from": "+15005550006", "messaging_service_sid": service.sender}))
    assert find(config=service) == "SM8c1b5e0d6f2a4c3b9e7d1a0f5c2b4e6d"


@responses.activate
def test_a_text_twilio_holds_as_failed_fails_for_good_with_its_error_code():
    listing(created(status="undelivered", error_code=30003))
    with pytest.raises(DeliveryError) as raised:
        find()
    assert raised.value.permanent is True
    assert raised.value.reason == "Twilio: undelivered (error 30003)"


@responses.activate
def test_a_little_clock_skew_between_twilio_and_us_does_not_hide_the_text():
    listing(created())
    assert find(since=SINCE + timedelta(minutes=2)) == "SM8c1b5e0d6f2a4c3b9e7d1a0f5c2b4e6d"


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 500, "json": {"code": 20500, "message": "Internal Server Error"}},
        {"status": 200, "body": "not json"},
        {"status": 200, "json": {"no": "messages"}},
        {"body": requests.exceptions.ReadTimeout("slow")},
    ],
    ids=["500", "not json", "no list", "timeout"],
)
@responses.activate
def test_when_twilio_cannot_be_asked_the_text_stays_ambiguous(answer):
    responses.add(responses.GET, MESSAGES_URL, **answer)
    with pytest.raises(DeliveryError) as raised:
        find()
    assert (raised.value.permanent, raised.value.ambiguous) == (False, True)
    assert raised.value.reason.startswith("could not ask Twilio whether the last text went")
    assert "5555550142" not in raised.value.reason and AUTH_TOKEN not in raised.value.reason
