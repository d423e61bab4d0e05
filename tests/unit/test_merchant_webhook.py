"""The merchant webhook channel: what is signed and sent, checked with the Standard Webhooks
reference library (`standardwebhooks`), and how each answer is sorted into retry or give up.
`responses` plays the merchant's endpoint; a real server on 127.0.0.1 plays it where the
request must really leave (allow_private) or must never arrive (the SSRF guard)."""

import base64
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import responses
from standardwebhooks import Webhook

from ordertrack.notifications import merchant_webhook as mw
from ordertrack.notifications.errors import DeliveryError
from ordertrack.notifications.retry_after import MAX_RETRY_AFTER
from ordertrack.notifications.ssrf import guarded_session

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
URL = "https://93.184.215.14/hooks/ordertrack"  # a literal public address: no DNS needed
CONFIG = mw.MerchantWebhookConfig(url=URL, secret=SECRET)
MSG_ID = "msg_ordertrack_42_1767225600"
BODY = b'{"type":"order.shipped","timestamp":"2026-01-01T00:00:00Z","data":{}}'

ORDER_DOCUMENT = {
    "platform": "shopify",
    "external_id": "820982911946154508",
    "name": "#1001",
    "status": "shipped",
    "platform_status": "fulfilled",
    "progress": "0 of 2 delivered",
    "updated_at": "2026-01-01T10:00:00+00:00",
    "shipments": [
        {
            "carrier": "UPS",
            "tracking_number": "1Z999AA10123456784",
            "tracking_url": None,
            "fulfillment_id": "255858046",
            "status": "in_transit",
            "status_detail": "Arrived at facility",
            "raw_status": "I",
            "status_at": "2026-01-01T09:00:00+00:00",
            "est_delivery": "2026-01-03T00:00:00+00:00",
            "cancelled": False,
            "removed": False,
        },
        {
            "carrier": "USPS",
            "tracking_number": "9400100000000000000000",
            "tracking_url": "https://track.example/9400",
            "status": "pre_transit",
            "est_delivery": None,
            "cancelled": False,
            "removed": False,
        },
        {"carrier": "FedEx", "tracking_number": "OLD-NUMBER", "cancelled": False, "removed": True},
    ],
    "history": [{"kind": "order", "detail": "email sent to jane.doe@example.com"}],
    "notifications": [{"channel": "email", "recipient": "j***@example.com", "status": "sent"}],
    "customer": {"email": "jane.doe@example.com", "phone": "+15550100142"},
}


@pytest.fixture
def merchant() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def clock(moment: datetime):
    return lambda: moment


def failure(**kwargs) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        mw.send(CONFIG, MSG_ID, BODY, **kwargs)
    return caught.value


# -- the secret and the signature (its test vector: tests/faults/test_signature_faults.py) ------


def test_a_secret_without_padding_decodes_as_the_reference_library_decodes_it():
    unpadded = "whsec_" + base64.b64encode(bytes(range(40))).decode().rstrip("=")
    assert mw.parse_secret(unpadded) == bytes(range(40))


@pytest.mark.parametrize(
    "value",
    [
        "",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # the base64 without its prefix
        "whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # an asymmetric key's prefix
        "whsec_not base64 at all!!",
        "whsec_" + base64.b64encode(b"sixteen-byte-key").decode(),  # too short
        "whsec_" + base64.b64encode(bytes(65)).decode(),  # too long
    ],
)
def test_a_malformed_secret_is_refused_naming_the_setting_but_not_the_value(value):
    with pytest.raises(ValueError) as caught:
        mw.parse_secret(value)
    message = str(caught.value)
    assert "MERCHANT_WEBHOOK_SECRET" in message
    assert value.removeprefix("whsec_") not in message or not value


def test_the_secret_stays_out_of_the_configs_repr():
    assert SECRET not in repr(CONFIG)
    assert SECRET.removeprefix("whsec_") not in repr(CONFIG)


def test_webhook_id_is_stable_for_a_row_and_has_no_full_stop():
    created = datetime(2026, 1, 1, tzinfo=UTC)
    first, again = mw.webhook_id(42, created), mw.webhook_id(42, created)
    assert first == again == "msg_ordertrack_42_1767225600"
    assert mw.webhook_id(43, created) != first
    assert mw.webhook_id(42, created.replace(tzinfo=None)) == first  # SQLite's naive UTC


@pytest.mark.parametrize("bad_id", ["msg.1", "", "msg 1", "msg\r\nX-Injected: 1"])
def test_a_webhook_id_that_would_break_the_signed_content_is_refused(bad_id, merchant):
    with pytest.raises(ValueError):
        mw.send(CONFIG, bad_id, BODY)
    assert len(merchant.calls) == 0


# -- the body -------------------------------------------------------------------------------------


def test_event_body_has_the_specs_type_timestamp_and_data():
    occurred = datetime(2026, 1, 1, 9, 30, 15, 250000, tzinfo=UTC)
    body = mw.event_body("order.shipped", ORDER_DOCUMENT, occurred)
    event = json.loads(body)
    assert event["type"] == "order.shipped"
    assert event["timestamp"] == "2026-01-01T09:30:15.250000Z"
    assert event["data"] == {
        "platform": "shopify",
        "external_id": "820982911946154508",
        "name": "#1001",
        "status": "shipped",
        "progress": "0 of 2 delivered",
        "shipments": [
            {
                "carrier": "UPS",
                "tracking_number": "1Z999AA10123456784",
                "status": "in_transit",
                "est_delivery": "2026-01-03T00:00:00+00:00",
                "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
            },
            {
                "carrier": "USPS",
                "tracking_number": "9400100000000000000000",
                "status": "pre_transit",
                "est_delivery": None,
                "tracking_url": "https://track.example/9400",
            },
        ],
    }
    assert b" " not in body.replace(b"0 of 2 delivered", b"")  # minified


def test_event_body_carries_no_personal_data():
    body = mw.event_body("order.delivered", ORDER_DOCUMENT, datetime(2026, 1, 1, tzinfo=UTC))
    for personal in (b"jane.doe", b"@example.com", b"+1555", b"0142", b"recipient"):
        assert personal not in body


def test_event_body_takes_a_naive_time_as_utc_and_converts_others_to_utc():
    naive = mw.event_body("order.shipped", {}, datetime(2026, 1, 1, 12))
    paris = datetime(2026, 1, 1, 13, tzinfo=timezone(timedelta(hours=1)))
    aware = mw.event_body("order.shipped", {}, paris)
    assert json.loads(naive)["timestamp"] == "2026-01-01T12:00:00Z"
    assert json.loads(aware)["timestamp"] == "2026-01-01T12:00:00Z"


@pytest.mark.parametrize("bad_type", ["", "order.", "order shipped", "order.shipped!", ".x"])
def test_event_body_refuses_a_type_the_spec_does_not_allow(bad_type):
    with pytest.raises(ValueError):
        mw.event_body(bad_type, ORDER_DOCUMENT, datetime(2026, 1, 1, tzinfo=UTC))


# -- the request ---------------------------------------------------------------------------------


def test_a_delivery_carries_the_three_headers_and_verifies_with_the_reference_library(merchant):
    merchant.post(URL, status=204)
    mw.send(CONFIG, MSG_ID, BODY)
    request = merchant.calls[0].request
    assert request.body == BODY
    assert request.headers["webhook-id"] == MSG_ID
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "ordertrack"
    verified = Webhook(SECRET).verify(request.body, dict(request.headers))
    assert verified == json.loads(BODY)


def test_a_retry_keeps_the_webhook_id_and_signs_a_new_timestamp(merchant):
    merchant.post(URL, status=503)
    merchant.post(URL, status=200)
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=120)
    second = first + timedelta(seconds=90)
    with pytest.raises(DeliveryError):
        mw.send(CONFIG, MSG_ID, BODY, now=clock(first))
    mw.send(CONFIG, MSG_ID, BODY, now=clock(second))
    attempts = [call.request.headers for call in merchant.calls]
    assert [h["webhook-id"] for h in attempts] == [MSG_ID, MSG_ID]
    assert [h["webhook-timestamp"] for h in attempts] == [
        str(int(first.timestamp())),
        str(int(second.timestamp())),
    ]
    reference = Webhook(SECRET)
    for headers, moment in zip(attempts, (first, second), strict=True):
        assert headers["webhook-signature"] == reference.sign(MSG_ID, moment, BODY.decode())
        reference.verify(BODY, dict(headers))  # both within the receiver's 5 minutes


def test_a_signature_for_one_attempt_does_not_verify_another_attempts_timestamp(merchant):
    merchant.post(URL, status=200)
    mw.send(CONFIG, MSG_ID, BODY)
    headers = dict(merchant.calls[0].request.headers)
    headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) - 60)
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(SECRET).verify(BODY, headers)


# -- outcomes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_is_delivered(merchant, status):
    merchant.post(URL, status=status)
    assert mw.send(CONFIG, MSG_ID, BODY) is None


def test_410_gone_is_permanent(merchant):
    merchant.post(URL, status=410)
    error = failure()
    assert error.permanent
    assert "endpoint gone" in error.reason


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_throttling_answers_are_retried_after_the_merchants_retry_after(merchant, status):
    merchant.post(URL, status=status, headers={"Retry-After": "120"})
    error = failure()
    assert not error.permanent
    assert error.retry_after == 120.0
    assert str(status) in error.reason


@pytest.mark.parametrize("status", [500, 501, 505, 599])
def test_other_5xx_are_retried_with_the_usual_backoff(merchant, status):
    merchant.post(URL, status=status, headers={"Retry-After": "120"})
    error = failure()
    assert not error.permanent
    assert error.retry_after is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 413, 422])
def test_other_4xx_are_retried_because_a_merchant_can_fix_them(merchant, status):
    merchant.post(URL, status=status)
    error = failure()
    assert not error.permanent
    assert str(status) in error.reason


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failure_and_is_not_followed(merchant, status):
    merchant.post(URL, status=status, headers={"Location": "http://169.254.169.254/latest"})
    merchant.get("http://169.254.169.254/latest", status=200)
    merchant.post("http://169.254.169.254/latest", status=200)
    error = failure()
    assert not error.permanent
    assert "redirects are not followed" in error.reason
    assert len(merchant.calls) == 1


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        ("120", 120.0),
        ("120.5", 120.5),
        ("-5", 0.0),
        ("Thu, 01 Jan 2026 00:02:00 GMT", 120.0),  # an HTTP date, 2 minutes after "now"
        ("Wed, 31 Dec 2025 23:00:00 GMT", 0.0),  # a date in the past
        ("999999999", MAX_RETRY_AFTER),
        ("soon", None),
        ("nan", None),
        ("", None),
    ],
)
def test_retry_after_in_seconds_or_as_an_http_date(merchant, value, seconds):
    merchant.post(URL, status=429, headers={"Retry-After": value})
    assert failure(now=clock(datetime(2026, 1, 1, tzinfo=UTC))).retry_after == seconds


@pytest.mark.parametrize(
    "exception",
    [requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout],
)
def test_a_timeout_is_retried(merchant, exception):
    merchant.post(URL, body=exception("timed out"))
    error = failure()
    assert not error.permanent
    assert "did not answer within 15 s" in error.reason


def test_a_connection_failure_is_retried(merchant):
    merchant.post(URL, body=requests.exceptions.ConnectionError("connection refused"))
    error = failure()
    assert not error.permanent
    assert "could not be reached: ConnectionError" in error.reason


def test_a_reason_names_the_host_but_never_the_urls_path_or_query(merchant):
    secret_url = "https://93.184.215.14/hooks/tok_5f3c9a?key=abc123"
    merchant.post(secret_url, status=500)
    config = mw.MerchantWebhookConfig(url=secret_url, secret=SECRET)
    with pytest.raises(DeliveryError) as caught:
        mw.send(config, MSG_ID, BODY)
    assert "93.184.215.14" in caught.value.reason
    for part in ("tok_5f3c9a", "abc123", "/hooks"):
        assert part not in caught.value.reason


def test_a_plain_session_is_refused_because_it_would_skip_the_connect_time_check():
    with requests.Session() as plain, pytest.raises(TypeError):
        mw.send(CONFIG, MSG_ID, BODY, session=plain)


def test_a_guarded_session_given_by_the_caller_is_used_and_left_open(merchant):
    merchant.post(URL, status=200)
    with guarded_session() as session:
        mw.send(CONFIG, MSG_ID, BODY, session=session)
        mw.send(CONFIG, MSG_ID, BODY, session=session)
    assert len(merchant.calls) == 2


# -- SSRF: what the guard does to a delivery ------------------------------------------------------


@pytest.fixture
def canary() -> Iterator[socket.socket]:
    """A listener on 127.0.0.1 nothing should reach; an empty backlog proves nothing did."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    yield listener
    listener.close()


def nothing_reached(listener: socket.socket) -> bool:
    try:
        listener.accept()[0].close()
    except BlockingIOError:
        return True
    return False


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "2130706433"])
def test_an_internal_url_is_refused_for_good_naming_the_setting(canary, host):
    url = f"http://{host}:{canary.getsockname()[1]}/hook"
    config = mw.MerchantWebhookConfig(url=url, secret=SECRET)
    with pytest.raises(DeliveryError) as caught:
        mw.send(config, MSG_ID, BODY)
    assert caught.value.permanent
    assert "ALLOW_PRIVATE_WEBHOOK_URLS" in caught.value.reason
    assert nothing_reached(canary)


def test_a_non_http_url_is_refused_for_good_without_suggesting_the_setting():
    config = mw.MerchantWebhookConfig(url="file:///etc/passwd", secret=SECRET)
    with pytest.raises(DeliveryError) as caught:
        mw.send(config, MSG_ID, BODY)
    assert caught.value.permanent
    assert "ALLOW_PRIVATE_WEBHOOK_URLS" not in caught.value.reason


def test_a_name_that_rebinds_to_loopback_is_refused_when_connecting(canary, monkeypatch):
    """The check sees a public address; the connection's own lookup sees 127.0.0.1."""
    real = socket.getaddrinfo
    answers = [["93.184.215.14"], ["127.0.0.1"]]

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        address = answers.pop(0)[0] if len(answers) > 1 else answers[0][0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    url = f"http://rebind.test:{canary.getsockname()[1]}/hook"
    with pytest.raises(DeliveryError) as caught:
        mw.send(mw.MerchantWebhookConfig(url=url, secret=SECRET), MSG_ID, BODY)
    assert caught.value.permanent
    assert "rebind.test resolves to 127.0.0.1 (loopback)" in caught.value.reason
    assert nothing_reached(canary)


def test_a_name_that_does_not_resolve_is_retried():
    config = mw.MerchantWebhookConfig(url="https://merchant.invalid/hook", secret=SECRET)
    with pytest.raises(DeliveryError) as caught:
        mw.send(config, MSG_ID, BODY)
    assert not caught.value.permanent
    assert "did not resolve" in caught.value.reason


class _Receiver(BaseHTTPRequestHandler):
    """A merchant's receiver: verifies with the reference library, as a merchant would."""

    received: list[tuple[dict, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        try:
            Webhook(SECRET).verify(body, dict(self.headers))
        except Exception:
            self.send_response(401)
        else:
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[ThreadingHTTPServer]:
    handler = type("Receiver", (_Receiver,), {"received": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_allow_private_delivers_to_a_local_receiver_that_verifies_it(receiver, host):
    url = f"http://{host}:{receiver.server_address[1]}/hook"
    config = mw.MerchantWebhookConfig(url=url, secret=SECRET, allow_private=True)
    mw.send(config, MSG_ID, BODY)
    [(headers, body)] = receiver.RequestHandlerClass.received
    assert body == BODY
    assert headers["webhook-id"] == MSG_ID
