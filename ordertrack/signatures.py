"""HMAC helpers shared by provider modules: every comparison is constant time, and every
check accepts a list of secrets so one can be rotated without downtime."""

import base64
import hashlib
import hmac
from collections.abc import Iterable

from ordertrack.errors import BadSignature


def hmac_sha256(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()


def verify_any(presented: str | None, expected: Iterable[str]) -> None:
    """Raise `BadSignature` unless `presented` equals one of `expected` (constant time each)."""
    if not presented:
        raise BadSignature("signature header is missing")
    candidate = presented.strip().encode("ascii", "replace")
    matches = [hmac.compare_digest(candidate, value.encode("ascii")) for value in expected]
    if not any(matches):
        raise BadSignature("signature does not match")


def base64_digests(secrets: Iterable[bytes], body: bytes) -> list[str]:
    return [base64.b64encode(hmac_sha256(secret, body)).decode("ascii") for secret in secrets]


def hex_digests(secrets: Iterable[bytes], body: bytes) -> list[str]:
    return [hmac_sha256(secret, body).hex() for secret in secrets]
