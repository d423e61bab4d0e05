"""The SMS channel against Twilio's Messages API, mocked with `responses` (Twilio is the only
thing faked): the request's shape, every class of failure and what it means for a retry, and
that no failure reason ever carries the customer's number or our auth token."""

import base64
import json
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests
import responses

from ordertrack.notifications import sms
from ordertrack.notifications.errors import DeliveryError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "twilio"
ACCOUNT_SID = "AC0f1e2d3c4b5a69788796a5b4c3d2e1f0"
AUTH_TOKEN = "f3c9a1e07b5d4c2a8e6f1b3d5c7a9e0b"
TO = "+15555550142"
MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
CALLBACK_URL = "https://ordertrack.example.com/webhooks/twilio"
CONFIG = sms.TwilioConfig(
    account_sid=ACCOUNT_SID,
    auth_token=AUTH_TOKEN,
    sender="+15005550006",
    status_callback_url=CALLBACK_URL,
)


def twilio_json(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def answer(name: str, status: int, headers: dict | None = None, url: str = MESSAGES_URL):
    responses.add(responses.POST, url, json=twilio_json(name), status=status, headers=headers)


def sent_form(call_index: int = 0) -> dict[str, list[str]]:
    return parse_qs(responses.calls[call_index].request.body)


def failure(to: str = TO, config: sms.TwilioConfig = CONFIG) -> DeliveryError:
    with pytest.raises(DeliveryError) as raised:
        sms.send(config, to, "Your order #1042 is out for delivery.")
    return raised.value


# --- The request


@responses.activate
def test_send_posts_one_form_with_basic_auth_and_returns_the_message_sid():
    answer("message_created", 201)

    sid = sms.send(CONFIG, TO, "Your order #1042 is out for delivery.")

    assert sid == "SM8c1b5e0d6f2a4c3b9e7d1a0f5c2b4e6d"
    assert len(responses.calls) == 1
    request = responses.calls[0].request
    assert request.method == "POST"
    assert request.url == MESSAGES_URL
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {credentials}"
    assert sent_form() == {
        "To": [TO],
        "From": ["+15005550006"],
        "Body": ["Your order #1042 is out for delivery."],
        "StatusCallback": [CALLBACK_URL],
    }


@responses.activate
def test_a_messaging_service_sender_goes_in_messaging_service_sid_not_from():
    answer("message_created__messaging_service", 201)
    config = sms.TwilioConfig(ACCOUNT_SID, AUTH_TOKEN, "MG4d2c0b9a8f7e6d5c4b3a29180f7e6d5c")

    sid = sms.send(config, TO, "Hello")

    assert sid == "SM3e9a7c5b1d0f2e4a6c8b0d2f4a6c8e0b"
    form = sent_form()
    assert form["MessagingServiceSid"] == ["MG4d2c0b9a8f7e6d5c4b3a29180f7e6d5c"]
    assert "From" not in form
    assert "StatusCallback" not in form  # none configured, none sent


@responses.activate
def test_twilio_api_base_replaces_twilios_host_and_a_trailing_slash_is_harmless():
    base = "http://127.0.0.1:9999/twilio/"
    url = f"http://127.0.0.1:9999/twilio/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    answer("message_created", 201, url=url)

    sms.send(sms.TwilioConfig(ACCOUNT_SID, AUTH_TOKEN, "+15005550006", api_base=base), TO, "Hi")

    assert responses.calls[0].request.url == url


@responses.activate
def test_an_idempotency_key_is_not_sent_because_twilio_documents_no_such_header():
    answer("message_created", 201)

    sms.send(CONFIG, TO, "Hi", idempotency_key="outbox-17")

    headers = {name.lower() for name in responses.calls[0].request.headers}
    assert not {h for h in headers if "idempotency" in h}
    assert "outbox-17" not in responses.calls[0].request.body


@responses.activate
def test_a_given_session_is_used():
    answer("message_created", 201)
    with requests.Session() as session:
        session.headers["User-Agent"] = "ordertrack-test"
        sms.send(CONFIG, TO, "Hi", session=session)
    assert responses.calls[0].request.headers["User-Agent"] == "ordertrack-test"


@responses.activate
def test_a_body_over_1600_characters_is_cut_with_an_ellipsis_before_it_is_sent():
    answer("message_created", 201)

    sms.send(CONFIG, TO, "x" * 2000)

    body = sent_form()["Body"][0]
    assert len(body) == 1600
    assert body.endswith("…")


@responses.activate
def test_a_2xx_without_a_sid_counts_as_sent_and_is_not_retried():
    responses.add(responses.POST, MESSAGES_URL, body="not json", status=201)
    assert sms.send(CONFIG, TO, "Hi") is None


def test_the_auth_token_is_not_in_the_configs_repr():
    assert AUTH_TOKEN not in repr(CONFIG)


# --- Failures: retry or give up

ERRORS = [
    # fixture, HTTP status, permanent, Twilio code in the reason
    ("error__21211_invalid_to", 400, True, "21211"),
    ("error__21408_region_not_enabled", 400, True, "21408"),
    ("error__21610_unsubscribed", 400, True, "21610"),
    ("error__21614_not_mobile", 400, True, "21614"),
    ("error__21611_queue_full", 400, False, "21611"),
    ("error__20003_authenticate", 401, False, "20003"),
    ("error__20429_too_many_requests", 429, False, "20429"),
    ("error__20500_internal", 500, False, "20500"),
]


@pytest.mark.parametrize(("fixture", "status", "permanent", "code"), ERRORS)
@responses.activate
def test_each_twilio_error_is_sorted_into_retry_or_give_up(fixture, status, permanent, code):
    answer(fixture, status)

    error = failure()

    assert error.permanent is permanent
    assert error.reason.startswith(f"Twilio {code} (")
    assert twilio_json(fixture)["message"].split(" ")[0] in error.reason  # Twilio's own words


@pytest.mark.parametrize(("fixture", "status", "_permanent", "_code"), ERRORS)
@responses.activate
def test_no_reason_contains_the_phone_number_or_the_auth_token(fixture, status, _permanent, _code):
    answer(fixture, status)

    reason = failure().reason

    for secret in ("5555550142", "15005550003", AUTH_TOKEN):
        assert secret not in reason


@responses.activate
def test_the_number_twilio_quotes_is_masked_in_the_reason():
    answer("error__21211_invalid_to", 400)
    assert failure().reason == (
        "Twilio 21211 (invalid 'To' number): The 'To' number 555***0142 is not a valid phone"
        " number."
    )


@responses.activate
def test_a_reason_that_echoes_the_token_or_number_in_any_form_is_scrubbed():
    message = f"Bad request for +1 (555) 555-0142 with {AUTH_TOKEN}; To={TO}"
    responses.add(
        responses.POST, MESSAGES_URL, json={"code": 21999, "message": message}, status=400
    )

    reason = failure().reason

    assert AUTH_TOKEN not in reason
    assert "555-0142" not in reason and "5550142" not in reason
    assert "+1555***0142" in reason


@responses.activate
def test_an_unlisted_4xx_code_is_permanent():
    responses.add(responses.POST, MESSAGES_URL, json={"code": 21999, "message": "No"}, status=400)
    error = failure()
    assert error.permanent is True
    assert error.reason == "Twilio 21999: No"


@responses.activate
def test_a_5xx_without_a_json_body_is_transient():
    responses.add(responses.POST, MESSAGES_URL, body="<html>Bad gateway</html>", status=502)
    error = failure()
    assert error.permanent is False
    assert error.reason == "Twilio HTTP 502: Bad Gateway"
    assert error.retry_after is None


@responses.activate
def test_a_401_without_a_twilio_code_is_retried_like_20003():
    responses.add(responses.POST, MESSAGES_URL, body="", status=401)
    assert failure().permanent is False


@responses.activate
def test_a_redirect_is_not_followed_and_is_retried():
    responses.add(
        responses.POST, MESSAGES_URL, status=301, headers={"Location": "https://elsewhere.test/"}
    )
    error = failure()
    assert len(responses.calls) == 1
    assert error.permanent is False


@responses.activate
def test_a_read_timeout_is_transient_and_says_the_text_may_have_gone():
    responses.add(responses.POST, MESSAGES_URL, body=requests.exceptions.ReadTimeout("slow"))
    error = failure()
    assert error.permanent is False
    assert "may have sent" in error.reason


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ConnectionError("refused"),
        requests.exceptions.ConnectTimeout("no route"),
        requests.exceptions.SSLError("bad cert"),
    ],
)
@responses.activate
def test_connection_failures_are_transient_and_name_only_the_kind(exc):
    responses.add(responses.POST, MESSAGES_URL, body=exc)
    error = failure()
    assert error.permanent is False
    assert error.reason == f"no answer from Twilio: {type(exc).__name__}"


# --- 429 Retry-After


@responses.activate
def test_a_429_with_retry_after_seconds_is_retried_after_that_long():
    answer("error__20429_too_many_requests", 429, headers={"Retry-After": "17"})
    error = failure()
    assert error.permanent is False
    assert error.retry_after == 17.0


@responses.activate
def test_a_429_without_retry_after_leaves_the_wait_to_backoff():
    answer("error__20429_too_many_requests", 429)
    assert failure().retry_after is None


@responses.activate
def test_retry_after_is_only_read_on_a_429():
    answer("error__20500_internal", 500, headers={"Retry-After": "30"})
    assert failure().retry_after is None


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        ("1.5", 1.5),
        ("-4", 0.0),
        ("Wed, 04 Nov 2026 13:02:00 GMT", 120.0),
        ("Wed, 04 Nov 2026 12:00:00 GMT", 0.0),  # in the past: now
        ("soon", None),
        ("inf", None),  # never "wait forever"
        ("nan", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(header, seconds):
    now = datetime(2026, 11, 4, 13, 0, tzinfo=UTC)
    assert sms.retry_after(header, now=now) == seconds


# --- Body length


def test_a_body_of_exactly_1600_characters_is_sent_whole():
    assert sms.fit_body("y" * 1600) == "y" * 1600


def test_an_emoji_counts_as_two_characters_and_is_never_split():
    body = "🚚" * 900  # 1800 UTF-16 units
    fitted = sms.fit_body(body)
    assert fitted == "🚚" * 799 + "…"  # 1598 + 1 units: the 800th emoji would not fit
    assert len(fitted.encode("utf-16-le")) // 2 <= 1600


def test_a_cut_does_not_leave_a_space_before_the_ellipsis():
    assert sms.fit_body("a" * 1598 + " " + "b" * 10) == "a" * 1598 + "…"


# --- Masking and normalising numbers


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+15555550142", "+1555***0142"),
        ("+447700900123", "+4477***0123"),
        ("5555550142", "555***0142"),
        ("+3612345678", "+361***5678"),
        ("07700900", "077***00"),
        ("12345", "***"),
    ],
)
def test_mask_phone_keeps_enough_to_recognise_and_too_little_to_dial(number, masked):
    assert sms.mask_phone(number) == masked


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+15555550142", None, "+15555550142"),
        ("+1 (555) 555-0142", "DE", "+15555550142"),  # a + wins over the region
        ("(555) 555-0142", "US", "+15555550142"),
        ("555.555.0142", "us", "+15555550142"),
        ("07700 900123", "GB", "+447700900123"),  # the UK trunk 0 is dropped
        ("06 1234 5678", "IT", "+390612345678"),  # Italy keeps its leading 0
        ("0049 30 1234567", "DE", "+49301234567"),  # international prefix
        ("(555) 555-0142", None, None),  # no + and no country: cannot know
        ("555-0142", "US", None),  # a local-only number
        ("+1 555 555 0142 ext. 12", None, None),  # an extension cannot take a text
        ("1-800-FLOWERS", "US", None),  # vanity letters are refused, not translated
        ("+1555", None, None),  # too short
        ("+1 555 555 01420", None, None),  # too long
        ("call me", "US", None),
        ("", "US", None),
        (None, "US", None),
    ],
)
def test_normalize_phone_gives_e164_or_none(raw, region, e164):
    assert sms.normalize_phone(raw, region) == e164


# --- Ambiguous failures: the text may have gone (a lookup comes before the next try)


@pytest.mark.parametrize(
    ("fixture", "status", "ambiguous"),
    [
        ("error__20500_internal", 500, True),
        ("error__20429_too_many_requests", 429, False),
        ("error__21611_queue_full", 400, False),
        ("error__20003_authenticate", 401, False),
        ("error__21211_invalid_to", 400, False),
    ],
)
@responses.activate
def test_a_5xx_is_ambiguous_and_a_refusal_that_twilio_never_processed_is_not(
    fixture, status, ambiguous
):
    answer(fixture, status)
    assert failure().ambiguous is ambiguous


@responses.activate
def test_a_bad_gateway_and_a_read_timeout_are_ambiguous():
    responses.add(responses.POST, MESSAGES_URL, body="<html>Bad gateway</html>", status=502)
    responses.add(responses.POST, MESSAGES_URL, body=requests.exceptions.ReadTimeout("slow"))
    assert failure().ambiguous is True
    assert failure().ambiguous is True


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_connection_refused_cannot_have_sent_the_text():
    config = sms.TwilioConfig(
        ACCOUNT_SID, AUTH_TOKEN, "+15005550006", f"http://127.0.0.1:{_closed_port()}"
    )
    error = failure(config=config)
    assert (error.permanent, error.ambiguous) == (False, False)


def test_a_connection_dropped_after_the_request_went_out_may_have_sent_the_text():
    """A server that reads the whole request, then closes without a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def read_then_hang_up():
            connection, _ = server.accept()
            with connection:
                connection.recv(65536)

        threading.Thread(target=read_then_hang_up, daemon=True).start()
        base = f"http://127.0.0.1:{server.getsockname()[1]}"
        error = failure(config=sms.TwilioConfig(ACCOUNT_SID, AUTH_TOKEN, "+15005550006", base))
    assert (error.permanent, error.ambiguous) == (False, True)
