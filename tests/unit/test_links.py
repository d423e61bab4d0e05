"""Signed links in messages: a token names the message or the order, never the person; the
first SIGNING_SECRET signs, every one verifies; tracking links expire."""

import pytest

from ordertrack.notifications import links
from ordertrack.settings import Settings

KEYS = (b"new", b"old")


def test_an_unsubscribe_token_names_the_message_and_no_address():
    token = links.unsubscribe_token(KEYS, 42)
    assert links.read_unsubscribe_token(KEYS, token) == 42
    assert "@" not in token and "example" not in token


def test_a_token_signed_with_the_old_secret_still_works_after_a_rotation():
    old_token = links.unsubscribe_token((b"old",), 7)
    assert links.read_unsubscribe_token(KEYS, old_token) == 7
    assert links.read_unsubscribe_token((b"newer",), old_token) is None


@pytest.mark.parametrize("token", ["", "x", "NDI.abc", "WzFd.forged"])
def test_a_token_we_did_not_sign_reads_as_none(token):
    assert links.read_unsubscribe_token(KEYS, token) is None
    assert links.read_tracking_token(KEYS, token, 60) is None


def test_a_tracking_token_is_the_order_and_expires():
    token = links.tracking_token(KEYS, 5)
    assert links.read_tracking_token(KEYS, token, 60) == 5
    assert links.read_tracking_token(KEYS, token, -1) is None, "older than its life"


def test_an_unsubscribe_token_is_no_tracking_token():
    assert links.read_tracking_token(KEYS, links.unsubscribe_token(KEYS, 5), 60) is None


def test_email_without_a_signing_secret_stops_start_up():
    with pytest.raises(links.MissingSigningSecret, match="SIGNING_SECRET"):
        links.signing_keys(Settings(smtp_host="smtp.example.com"))
    assert links.signing_keys(Settings(signing_secret="a, b")) == (b"a", b"b")
    assert len(links.signing_keys(Settings())[0]) == 32, "no email: a key for this process"
