"""HMAC helpers shared by provider modules: every comparison is constant time, and every
check accepts a list of secrets so one can be rotated without downtime."""

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from ordertrack.errors import BadSignature


def hmac_sha256(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()


def verify_any(presented: str | None, expected: Iterable[str]) -> None:
    """Raise `BadSignature` unless `presented` equals one of `expected` (constant time each)."""
    if not presented:
        raise BadSignature("signature header is missing")
    if not _matches(presented.strip(), list(expected)):
        raise BadSignature("signature does not match")


def base64_digests(secrets: Iterable[bytes], body: bytes) -> list[str]:
    return [base64.b64encode(hmac_sha256(secret, body)).decode("ascii") for secret in secrets]


def hex_digests(secrets: Iterable[bytes], body: bytes) -> list[str]:
    return [hmac_sha256(secret, body).hex() for secret in secrets]


#: ASCII digits only (str.isdigit() also takes "²"), and few enough to be a date.
_UNIX_SECONDS = re.compile(r"[0-9]{1,11}")
#: Entries a timestamped header may carry: `t`, and a signature for each secret the sender is
#: rotating through. A header with more is not a sender's: refused before anything is computed.
MAX_HEADER_ENTRIES = 6


def verify_timestamped(
    header: str | None,
    body: bytes,
    secrets: Iterable[str],
    tolerance: timedelta,
    now: datetime,
) -> None:
    """Stripe's scheme, which Shippo uses: `t=<unix>,v1=<hex>[,v1=<hex>...]`, each v1 an
    HMAC-SHA256 of `"<t>.<body>"`. The signed time must lie within `tolerance` of now, in
    either direction, so a captured request cannot be replayed later."""
    if not header:
        raise BadSignature("signature header is missing")
    entries = header.split(",", MAX_HEADER_ENTRIES)
    if len(entries) > MAX_HEADER_ENTRIES:
        raise BadSignature(f"signature header has more than {MAX_HEADER_ENTRIES} entries")
    parts = [entry.strip().partition("=") for entry in entries]
    stamps = [value for name, _, value in parts if name == "t"]
    presented = [value for name, _, value in parts if name == "v1" and value]
    if len(stamps) != 1 or not _UNIX_SECONDS.fullmatch(stamps[0]) or not presented:
        raise BadSignature("signature header is not t=<unix seconds>,v1=<hex>")
    signed_at = datetime.fromtimestamp(int(stamps[0]), UTC)
    if abs(now - signed_at) > tolerance:
        raise BadSignature(
            f"signature timestamp is more than {int(tolerance.total_seconds())} s from now:"
            " refused as a replay"
        )
    signed = stamps[0].encode("ascii") + b"." + body
    expected = hex_digests((secret.encode() for secret in secrets), signed)
    if not any(_matches(value, expected) for value in presented):
        raise BadSignature("signature does not match")


def _matches(presented: str, expected: list[str]) -> bool:
    """Compares against every expected value, never stopping early, so timing says nothing."""
    candidate = presented.encode("utf-8", "replace")
    return any([hmac.compare_digest(candidate, value.encode("utf-8")) for value in expected])
