"""Signatures, pure: EasyPost's own known-answer vector, Shopify against an HMAC computed here
independently, and the shared `verify_any` (constant-time, any of several rotated secrets)."""

import base64
import hashlib
import hmac
import json
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.datastructures import Headers

from ordertrack.errors import BadSignature
from ordertrack.providers import easypost, shopify
from ordertrack.providers.base import Credentials, WebhookRequest
from ordertrack.signatures import (
    base64_digests,
    hex_digests,
    hmac_sha256,
    verify_any,
    verify_timestamped,
)
from tests.support.webhooks import FIXTURES, fixture_body

#: EasyPost's published example: secret, body file and the X-Hmac-Signature it sent.
VECTOR = json.loads((FIXTURES / "easypost" / "signature_vector.json").read_text())
VECTOR_BODY = fixture_body("easypost", "event-body")

#: RFC 4231 test case 2.
RFC4231_KEY = b"Jefe"
RFC4231_DATA = b"what do ya want for nothing?"
RFC4231_HMAC_SHA256 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"

SHOPIFY_SECRET = "shpss_unit_secret"
SHOPIFY_BODY = fixture_body("shopify", "orders_create")


def _delivery(body: bytes, **headers: str) -> WebhookRequest:
    """A delivery whose headers are case-insensitive, as the HTTP edge hands them over."""
    return WebhookRequest(body=body, headers=Headers(headers), query={})


def _easypost(signature: str, body: bytes = VECTOR_BODY) -> WebhookRequest:
    return _delivery(body, **{"X-Hmac-Signature": signature})


def _shopify(signature: str, body: bytes = SHOPIFY_BODY) -> WebhookRequest:
    return _delivery(body, **{"X-Shopify-Hmac-Sha256": signature})


def _shopify_signature(secret: str, body: bytes = SHOPIFY_BODY) -> str:
    """Shopify's documented recipe: base64 of HMAC-SHA256 over the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _accepts(provider, request: WebhookRequest, credentials: Credentials) -> None:
    """The provider takes this request, and refuses it once one byte of its body changes: the
    acceptance means the signature was checked, not that nothing was."""
    provider.verify(request, credentials)
    changed = request.body[:-1] + bytes([request.body[-1] ^ 1])
    with pytest.raises(BadSignature):
        provider.verify(WebhookRequest(changed, request.headers, request.query), credentials)


def _flip_last(signature: str) -> str:
    """The same signature with its last character changed: same length, wrong value."""
    last = signature[-1]
    replacement = "0" if last != "0" else "1"
    flipped = signature[:-1] + replacement
    assert len(flipped) == len(signature) and flipped != signature
    return flipped


# --- EasyPost --------------------------------------------------------------------------------


def test_easypost_known_answer_vector_verifies():
    _accepts(easypost, _easypost(VECTOR["signature"]), Credentials(secrets=(VECTOR["secret"],)))


def test_easypost_vector_verifies_whatever_the_header_name_case():
    delivery = _delivery(VECTOR_BODY, **{"x-hmac-signature": VECTOR["signature"]})
    _accepts(easypost, delivery, Credentials(secrets=(VECTOR["secret"],)))


def test_easypost_vector_with_the_wrong_secret_is_rejected():
    with pytest.raises(BadSignature, match="does not match"):
        easypost.verify(_easypost(VECTOR["signature"]), Credentials(secrets=("secret",)))


def test_easypost_vector_over_a_changed_body_is_rejected():
    changed = VECTOR_BODY.replace(b'"in_transit"', b'"delivered"', 1)
    assert changed != VECTOR_BODY
    with pytest.raises(BadSignature, match="does not match"):
        easypost.verify(
            _easypost(VECTOR["signature"], changed), Credentials(secrets=(VECTOR["secret"],))
        )


def test_easypost_key_is_nfkd_normalized_so_the_raw_key_signature_does_not_verify():
    secret = VECTOR["secret"]
    assert secret != unicodedata.normalize("NFKD", secret), "the vector's secret must need it"
    raw_key = hmac.new(secret.encode("utf-8"), VECTOR_BODY, hashlib.sha256).hexdigest()
    assert "hmac-sha256-hex=" + raw_key != VECTOR["signature"]
    with pytest.raises(BadSignature):
        easypost.verify(_easypost("hmac-sha256-hex=" + raw_key), Credentials(secrets=(secret,)))


def test_easypost_secret_configured_in_decomposed_form_still_verifies():
    decomposed = unicodedata.normalize("NFD", VECTOR["secret"])
    assert decomposed != VECTOR["secret"]
    _accepts(easypost, _easypost(VECTOR["signature"]), Credentials(secrets=(decomposed,)))


@pytest.mark.parametrize(
    "signature",
    [
        VECTOR["signature"].removeprefix("hmac-sha256-hex="),
        VECTOR["signature"].upper(),
        "hmac-sha256-hex=" + base64.b64encode(bytes.fromhex(VECTOR["signature"][16:])).decode(),
        _flip_last(VECTOR["signature"]),
    ],
    ids=["no prefix", "upper case", "base64 digest", "last character changed"],
)
def test_easypost_signature_in_any_other_form_is_rejected(signature):
    with pytest.raises(BadSignature, match="does not match"):
        easypost.verify(_easypost(signature), Credentials(secrets=(VECTOR["secret"],)))


def test_easypost_missing_signature_is_rejected_as_missing():
    with pytest.raises(BadSignature, match="missing"):
        easypost.verify(_delivery(VECTOR_BODY), Credentials(secrets=(VECTOR["secret"],)))


def test_easypost_rotation_verifies_with_either_secret():
    _accepts(
        easypost,
        _easypost(VECTOR["signature"]),
        Credentials(secrets=("the-new-one", VECTOR["secret"])),
    )
    _accepts(
        easypost,
        _easypost(VECTOR["signature"]),
        Credentials(secrets=(VECTOR["secret"], "the-old-one")),
    )


# --- Shopify ---------------------------------------------------------------------------------


def test_shopify_verifies_an_independently_computed_base64_hmac():
    _accepts(
        shopify,
        _shopify(_shopify_signature(SHOPIFY_SECRET)),
        Credentials(secrets=(SHOPIFY_SECRET,)),
    )


def test_shopify_rejects_a_signature_made_with_another_secret():
    with pytest.raises(BadSignature, match="does not match"):
        shopify.verify(
            _shopify(_shopify_signature("shpss_other")), Credentials(secrets=(SHOPIFY_SECRET,))
        )


def test_shopify_rejects_the_right_signature_for_another_body():
    other_body = fixture_body("shopify", "orders_paid")
    signature = _shopify_signature(SHOPIFY_SECRET, other_body)
    with pytest.raises(BadSignature, match="does not match"):
        shopify.verify(_shopify(signature), Credentials(secrets=(SHOPIFY_SECRET,)))


def test_shopify_rejects_a_body_changed_by_one_trailing_newline():
    signature = _shopify_signature(SHOPIFY_SECRET)
    with pytest.raises(BadSignature):
        shopify.verify(
            _shopify(signature, SHOPIFY_BODY + b"\n"), Credentials(secrets=(SHOPIFY_SECRET,))
        )


def test_shopify_rejects_the_hex_form_of_the_right_digest():
    digest = hmac.new(SHOPIFY_SECRET.encode(), SHOPIFY_BODY, hashlib.sha256).hexdigest()
    with pytest.raises(BadSignature):
        shopify.verify(_shopify(digest), Credentials(secrets=(SHOPIFY_SECRET,)))


@pytest.mark.parametrize("signature", [None, ""], ids=["absent", "empty"])
def test_shopify_missing_signature_is_rejected_as_missing(signature):
    headers = {} if signature is None else {"X-Shopify-Hmac-Sha256": signature}
    with pytest.raises(BadSignature, match="missing"):
        shopify.verify(_delivery(SHOPIFY_BODY, **headers), Credentials(secrets=(SHOPIFY_SECRET,)))


def test_shopify_verifies_with_any_member_of_a_list_of_secrets():
    secrets = Credentials(secrets=("shpss_new", "shpss_current", "shpss_old"))
    for secret in secrets.secrets:
        _accepts(shopify, _shopify(_shopify_signature(secret)), secrets)
    with pytest.raises(BadSignature):
        shopify.verify(_shopify(_shopify_signature("shpss_removed")), secrets)


# --- verify_any and the digest helpers -------------------------------------------------------


def test_hmac_sha256_matches_rfc_4231():
    assert hmac_sha256(RFC4231_KEY, RFC4231_DATA).hex() == RFC4231_HMAC_SHA256
    assert hex_digests([RFC4231_KEY, b"other"], RFC4231_DATA)[0] == RFC4231_HMAC_SHA256
    expected_b64 = base64.b64encode(bytes.fromhex(RFC4231_HMAC_SHA256)).decode()
    assert base64_digests([b"other", RFC4231_KEY], RFC4231_DATA) == [
        base64.b64encode(hmac_sha256(b"other", RFC4231_DATA)).decode(),
        expected_b64,
    ]


def test_verify_any_accepts_any_member_of_the_expected_list():
    expected = [RFC4231_HMAC_SHA256, "a" * 64, "b" * 64]
    for presented in expected:
        verify_any(presented, expected)


def test_verify_any_rejects_a_wrong_signature_of_the_same_length():
    for position in (0, 31, 63):
        wrong = list(RFC4231_HMAC_SHA256)
        wrong[position] = "f" if wrong[position] != "f" else "e"
        with pytest.raises(BadSignature, match="does not match"):
            verify_any("".join(wrong), [RFC4231_HMAC_SHA256])


def test_verify_any_rejects_prefixes_and_extensions_of_the_right_signature():
    for presented in (RFC4231_HMAC_SHA256[:-1], RFC4231_HMAC_SHA256 + "0", "5"):
        with pytest.raises(BadSignature, match="does not match"):
            verify_any(presented, [RFC4231_HMAC_SHA256])


def test_verify_any_ignores_surrounding_whitespace_of_the_header():
    verify_any(f"  {RFC4231_HMAC_SHA256}\t", [RFC4231_HMAC_SHA256])


def test_verify_any_with_non_ascii_input_rejects_instead_of_crashing():
    with pytest.raises(BadSignature, match="does not match"):
        verify_any("é" * 64, [RFC4231_HMAC_SHA256])


@pytest.mark.parametrize("presented", [None, ""], ids=["none", "empty"])
def test_verify_any_without_a_signature_says_it_is_missing(presented):
    with pytest.raises(BadSignature, match="missing"):
        verify_any(presented, [RFC4231_HMAC_SHA256])


def test_verify_any_with_no_secrets_verifies_nothing():
    with pytest.raises(BadSignature):
        verify_any(RFC4231_HMAC_SHA256, [])


# --- Stripe's timestamped scheme (Shippo-Auth-Signature): t=<unix>,v1=<hex of "t.body">

STAMPED_BODY = b'{"event":"track_updated"}'
SIGNED_AT = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)
FIVE_MINUTES = timedelta(minutes=5)


def _stamped(secret: str, at: datetime = SIGNED_AT, body: bytes = STAMPED_BODY) -> str:
    t = str(int(at.timestamp()))
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def test_a_timestamped_signature_within_the_tolerance_verifies_either_side_of_now():
    for skew in (timedelta(0), timedelta(minutes=4), -timedelta(minutes=4)):
        verify_timestamped(
            _stamped("whsec"), STAMPED_BODY, ["whsec"], FIVE_MINUTES, SIGNED_AT + skew
        )


@pytest.mark.parametrize("skew", [timedelta(minutes=6), -timedelta(minutes=6)])
def test_a_timestamp_outside_the_tolerance_is_refused_as_a_replay(skew):
    with pytest.raises(BadSignature, match="replay"):
        verify_timestamped(
            _stamped("whsec"), STAMPED_BODY, ["whsec"], FIVE_MINUTES, SIGNED_AT + skew
        )


def test_the_timestamp_is_part_of_what_is_signed():
    moved = _stamped("whsec").replace(
        f"t={int(SIGNED_AT.timestamp())}", f"t={int(SIGNED_AT.timestamp()) + 1}"
    )
    with pytest.raises(BadSignature, match="does not match"):
        verify_timestamped(moved, STAMPED_BODY, ["whsec"], FIVE_MINUTES, SIGNED_AT)


def test_any_v1_entry_and_any_secret_verifies_during_a_rotation():
    header = _stamped("old") + "," + _stamped("new").split(",")[1]
    verify_timestamped(header, STAMPED_BODY, ["new"], FIVE_MINUTES, SIGNED_AT)
    verify_timestamped(_stamped("old"), STAMPED_BODY, ["new", "old"], FIVE_MINUTES, SIGNED_AT)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "v1=abc",
        "t=abc,v1=abc",
        "t=1,t=2,v1=abc",
        "t=1793880000",
        "t=²,v1=ab",  # a digit to str.isdigit(), not to int()
        "t=999999999999,v1=ab",  # past the year 9999
    ],
)
def test_a_malformed_timestamped_header_is_refused(header):
    with pytest.raises(BadSignature):
        verify_timestamped(header, STAMPED_BODY, ["whsec"], FIVE_MINUTES, SIGNED_AT)
