"""Twilio's status callbacks for the texts we sent: is it really Twilio, and what happened.

Signature (Twilio, "Webhooks security"): X-Twilio-Signature is
base64(HMAC-SHA1(auth token, URL + name1 + value1 + name2 + value2 ...)): the full URL Twilio
called, query string included, then every POST parameter, sorted by name (a repeated name's
values sorted too), as twilio-python's RequestValidator computes it. Twilio may sign the URL
with or without its port ("sig generation on back end is inconsistent", twilio-python), so a
signature is accepted for the URL as given or with its port removed (any port) or, without
one, with the scheme's default port added: the same candidates as RequestValidator.validate.

Statuses: the MessageStatus values of the Message resource; the outbox only needs delivered,
failed, or "still on its way".
"""

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from ordertrack.errors import BadSignature, MissingFields

SIGNATURE_HEADER = "X-Twilio-Signature"
DELIVERED = "delivered"
FAILED = "failed"
#: A MessageStatus Twilio's documentation does not list: stored and counted, never guessed.
UNKNOWN = "unknown"

# Twilio MessageStatus -> what the outbox records. None: no change, the text is on its way
# (or Twilio is not saying more). Twilio sends no callback for a message's initial status.
STATUS_TABLE: dict[str, str | None] = {
    "accepted": None,  # a Messaging Service took it and is choosing a sender
    "scheduled": None,  # Messaging Service scheduling (we never schedule)
    "queued": None,  # waiting for the sender's throughput
    "sending": None,  # handed to the carrier, no answer yet
    "sent": None,  # the carrier accepted it; a delivery receipt may follow, or never come
    "delivered": DELIVERED,  # the carrier confirmed delivery to the handset
    "read": DELIVERED,  # read receipt (WhatsApp, RCS): delivered, even if that callback was lost
    "undelivered": FAILED,  # the carrier could not deliver (ErrorCode says why, e.g. 30003)
    "failed": FAILED,  # Twilio could not send it (ErrorCode, e.g. 30001 queue overflow)
    "canceled": FAILED,  # a scheduled message was canceled: it will never go out
    # Some of it arrived: neither delivered nor failed can be claimed, and a resend would
    # repeat what did arrive. Left as sent.
    "partially_delivered": None,
    # Inbound statuses: never about a message we sent.
    "receiving": None,
    "received": None,
}

_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")


@dataclass(frozen=True)
class StatusUpdate:
    message_sid: str
    #: Twilio's MessageStatus as sent, for the record.
    twilio_status: str
    #: DELIVERED, FAILED, UNKNOWN, or None for no change.
    status: str | None
    #: Twilio's ErrorCode (e.g. 30003 unreachable handset), on undelivered and failed.
    error_code: int | None


def expected_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    signed = url + "".join(
        name + value for name in sorted(params) for value in sorted(_values(params, name))
    )
    digest = hmac.new(auth_token.encode("utf-8"), signed.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _values(params: Mapping[str, str], name: str) -> list[str]:
    getlist = getattr(params, "getlist", None)  # werkzeug's MultiDict (Flask's request.form)
    return list(getlist(name)) if getlist else [params[name]]


def verify(
    auth_tokens: Sequence[str], url: str, params: Mapping[str, str], signature_header: str | None
) -> None:
    """Raise BadSignature unless one of `auth_tokens` (primary and secondary, for rotation)
    signed `params` for `url`. `url` is the StatusCallback URL Twilio called, exactly as we
    gave it (not rebuilt from a proxied request); `params` is every POST parameter received."""
    if not signature_header:
        raise BadSignature(f"{SIGNATURE_HEADER} is missing")
    tokens = [token for token in auth_tokens if token]
    if not tokens:
        raise BadSignature("no Twilio auth token is configured to verify with")
    given = signature_header.strip().encode("utf-8", "replace")
    matched = False
    for token in tokens:  # no early exit: every candidate costs the same
        for candidate in url_variants(url):
            expected = expected_signature(token, candidate, params).encode("ascii")
            matched |= hmac.compare_digest(expected, given)
    if not matched:
        raise BadSignature(f"{SIGNATURE_HEADER} does not match")


def url_variants(url: str) -> list[str]:
    """`url` as given, then with its port removed, or with the default port added."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return [url]
    if port is not None:
        other = parts._replace(netloc=parts.netloc[: parts.netloc.rfind(":")])
    elif parts.scheme in ("http", "https") and parts.netloc:
        default = 443 if parts.scheme == "https" else 80
        other = parts._replace(netloc=f"{parts.netloc}:{default}")
    else:
        return [url]
    return [url, other.geturl()]


def parse_status(params: Mapping[str, str]) -> StatusUpdate:
    """What a verified status callback says about one of our messages."""
    sid = (params.get("MessageSid") or params.get("SmsSid") or "").strip()
    twilio_status = (params.get("MessageStatus") or params.get("SmsStatus") or "").strip()
    missing = [
        name for name, value in (("MessageSid", sid), ("MessageStatus", twilio_status)) if not value
    ]
    if missing:
        raise MissingFields("a Twilio status callback needs MessageSid and MessageStatus", missing)
    if not _SID.match(sid):
        raise MissingFields("MessageSid is not a Twilio message SID", ["MessageSid"])
    status = STATUS_TABLE.get(twilio_status.lower(), UNKNOWN)
    return StatusUpdate(sid, twilio_status, status, _error_code(params.get("ErrorCode")))


def _error_code(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() else None
