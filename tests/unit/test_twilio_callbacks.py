"""Twilio status callbacks, pure: the X-Twilio-Signature algorithm against Twilio's own
known-answer vectors, token rotation, the port quirk, tampering refused, and every documented
MessageStatus mapped to what the outbox records."""

import json
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from werkzeug.datastructures import MultiDict

from ordertrack.errors import BadSignature, MissingFields
from ordertrack.notifications import twilio_callbacks as tc

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "twilio"
VECTOR = json.loads((FIXTURES / "signature_vector.json").read_text(encoding="utf-8"))
TOKEN = "f3c9a1e07b5d4c2a8e6f1b3d5c7a9e0b"
OLD_TOKEN = "0b9e7a5c3d1b6f8e2a4c7b0e1f3a5c9d"
URL = "https://ordertrack.example.com/webhooks/twilio"
SID = "SM8c1b5e0d6f2a4c3b9e7d1a0f5c2b4e6d"

# --- Documentation table: Message resource, "Message Status values". Written from each
# status's documented meaning, not from the module's table.
DOCUMENTED_STATUSES = {
    "queued": None,
    "sending": None,
    "sent": None,
    "delivered": tc.DELIVERED,
    "undelivered": tc.FAILED,
    "failed": tc.FAILED,
    "receiving": None,
    "received": None,
    "accepted": None,
    "scheduled": None,
    "read": tc.DELIVERED,
    "canceled": tc.FAILED,
    "partially_delivered": None,
}


def callback(name: str) -> dict[str, str]:
    body = (FIXTURES / f"{name}.txt").read_text(encoding="utf-8").strip()
    return dict(parse_qsl(body, keep_blank_values=True, strict_parsing=True))


def signed(params, token: str = TOKEN, url: str = URL) -> str:
    return tc.expected_signature(token, url, params)


# --- Known answers (twilio-python tests/unit/test_request_validator.py)


def _accepts(tokens, url, params, signature: str) -> None:
    """Verified, and refused once one character of the signature changes: the acceptance
    means the signature was checked, not that nothing was."""
    tc.verify(tokens, url, params, signature)
    changed = signature[:5] + ("A" if signature[5] != "A" else "B") + signature[6:]
    with pytest.raises(BadSignature):
        tc.verify(tokens, url, params, changed)


def test_twilios_known_answer_vector():
    assert tc.expected_signature(VECTOR["auth_token"], VECTOR["url"], VECTOR["params"]) == (
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )
    _accepts([VECTOR["auth_token"]], VECTOR["url"], VECTOR["params"], VECTOR["signature"])


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://mycompany.com:443/myapp.php?foo=1&bar=2", "signature_with_port_443"),
        ("http://mycompany.com:80/myapp.php?foo=1&bar=2", "signature_http_with_port_80"),
        ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "signature_http_with_port_1234"),
    ],
)
def test_twilios_vectors_for_urls_with_ports(url, key):
    assert tc.expected_signature(VECTOR["auth_token"], url, VECTOR["params"]) == VECTOR[key]


# --- The port quirk: Twilio may sign with or without the port


def test_a_signature_over_the_url_with_443_verifies_against_the_url_without_a_port():
    _accepts(["12345"], VECTOR["url"], VECTOR["params"], VECTOR["signature_with_port_443"])


def test_a_signature_over_the_url_without_a_port_verifies_against_the_url_with_one():
    url = "https://mycompany.com:1234/myapp.php?foo=1&bar=2"
    _accepts(["12345"], url, VECTOR["params"], VECTOR["signature"])


def test_the_port_is_the_only_part_of_the_url_that_may_differ():
    other_host = "https://othercompany.com/myapp.php?foo=1&bar=2"
    with pytest.raises(BadSignature):
        tc.verify(["12345"], other_host, VECTOR["params"], VECTOR["signature_with_port_443"])


@pytest.mark.parametrize(
    ("url", "variants"),
    [
        (URL, [URL, "https://ordertrack.example.com:443/webhooks/twilio"]),
        ("http://h.test/x?a=1", ["http://h.test/x?a=1", "http://h.test:80/x?a=1"]),
        ("https://h.test:8443/x", ["https://h.test:8443/x", "https://h.test/x"]),
        ("https://[::1]:8443/x", ["https://[::1]:8443/x", "https://[::1]/x"]),
        ("https://h.test:port/x", ["https://h.test:port/x"]),  # not a port: as given only
    ],
)
def test_url_variants(url, variants):
    assert tc.url_variants(url) == variants


# --- Rotation and refusal


def test_any_configured_token_verifies_so_a_token_can_be_rotated():
    params = callback("status_callback__delivered")
    _accepts([TOKEN, OLD_TOKEN], URL, params, signed(params, OLD_TOKEN))
    _accepts([TOKEN, OLD_TOKEN], URL, params, signed(params, TOKEN))


def test_a_token_that_was_rotated_out_is_refused():
    params = callback("status_callback__delivered")
    with pytest.raises(BadSignature):
        tc.verify([TOKEN], URL, params, signed(params, OLD_TOKEN))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: p | {"MessageStatus": "failed"},
        lambda p: p | {"ErrorCode": "30003"},  # a parameter added
        lambda p: {k: v for k, v in p.items() if k != "RawDlrDoneDate"},  # one removed
        lambda p: p | {"MessageSid": "SM00000000000000000000000000000000"},
    ],
)
def test_a_tampered_parameter_is_refused(tamper):
    params = callback("status_callback__delivered")
    signature = signed(params)
    with pytest.raises(BadSignature):
        tc.verify([TOKEN], URL, tamper(params), signature)


@pytest.mark.parametrize(
    "url",
    [
        "https://ordertrack.example.com/webhooks/other",
        "https://ordertrack.example.com/webhooks/twilio?outbox=2",
        "http://ordertrack.example.com/webhooks/twilio",
        "https://attacker.example/webhooks/twilio",
    ],
)
def test_a_signature_for_another_url_is_refused(url):
    params = callback("status_callback__delivered")
    with pytest.raises(BadSignature):
        tc.verify([TOKEN], url, params, signed(params))


@pytest.mark.parametrize("header", [None, "", "   ", "not-a-signature", "ÿ" * 28])
def test_a_missing_or_malformed_signature_is_refused(header):
    params = callback("status_callback__sent")
    with pytest.raises(BadSignature):
        tc.verify([TOKEN], URL, params, header)


def test_without_a_configured_token_nothing_verifies():
    params = callback("status_callback__sent")
    with pytest.raises(BadSignature):
        tc.verify(["", ""], URL, params, signed(params, ""))


def test_repeated_parameters_are_signed_name_by_name_with_values_sorted():
    params = MultiDict([("To", "+15555550142"), ("Tag", "b"), ("Tag", "a")])
    expected = tc.expected_signature(TOKEN, URL + "Taga" + "Tagb" + "To+15555550142", {})
    assert tc.expected_signature(TOKEN, URL, params) == expected
    _accepts([TOKEN], URL, params, expected)


# --- Status callbacks: verified, then read


@pytest.mark.parametrize(
    ("fixture", "status", "error_code"),
    [
        ("status_callback__sent", None, None),
        ("status_callback__delivered", tc.DELIVERED, None),
        ("status_callback__undelivered", tc.FAILED, 30003),
        ("status_callback__failed", tc.FAILED, 30008),
    ],
)
def test_each_callback_fixture_verifies_and_reads(fixture, status, error_code):
    params = callback(fixture)
    _accepts([TOKEN], URL, params, signed(params))

    update = tc.parse_status(params)

    assert update == tc.StatusUpdate(SID, params["MessageStatus"], status, error_code)


@pytest.mark.parametrize(("twilio_status", "expected"), DOCUMENTED_STATUSES.items())
def test_every_documented_message_status_maps_to_what_the_outbox_records(twilio_status, expected):
    params = callback("status_callback__sent") | {"MessageStatus": twilio_status}
    assert tc.parse_status(params).status == expected


def test_the_status_table_covers_exactly_the_documented_statuses():
    assert tc.STATUS_TABLE == DOCUMENTED_STATUSES


def test_an_undocumented_status_is_unknown_not_a_guess():
    params = callback("status_callback__sent") | {"MessageStatus": "teleported"}
    update = tc.parse_status(params)
    assert update.status == tc.UNKNOWN
    assert update.twilio_status == "teleported"


def test_the_legacy_sms_names_are_read_when_the_message_names_are_absent():
    params = {"SmsSid": SID, "SmsStatus": "delivered"}
    assert tc.parse_status(params) == tc.StatusUpdate(SID, "delivered", tc.DELIVERED, None)


@pytest.mark.parametrize(
    "params",
    [
        {"MessageStatus": "delivered"},
        {"MessageSid": SID},
        {"MessageSid": "", "MessageStatus": "delivered"},
        {"MessageSid": "../../etc/passwd", "MessageStatus": "delivered"},
        {"MessageSid": SID + "00", "MessageStatus": "delivered"},
    ],
)
def test_a_callback_without_a_usable_sid_or_status_is_refused(params):
    with pytest.raises(MissingFields):
        tc.parse_status(params)


@pytest.mark.parametrize(
    ("raw", "code"), [("30003", 30003), ("", None), ("abc", None), ("٣", None)]
)
def test_error_code_is_an_integer_or_none(raw, code):
    params = {"MessageSid": SID, "MessageStatus": "failed", "ErrorCode": raw}
    assert tc.parse_status(params).error_code == code
