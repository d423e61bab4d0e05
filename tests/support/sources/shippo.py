"""Shippo: the body is `{"event", "test", "data"}`. Shippo echoes the token chosen in the
webhook URL (`?token=`) and, where HMAC signing is enabled for the account, sends
`Shippo-Auth-Signature`, signed here by the simulator's signer at the time a test chooses."""

from datetime import UTC, datetime

from simulate.sources import shippo as sender
from tests.support.webhooks import Request, fixture_body

SECRET = "shippo-hmac-secret"
TOKEN = "shippo-url-token-5c1e9a"


def signature(body: bytes, at: datetime, secrets: tuple[str, ...] = (SECRET,)) -> str:
    """One `v1=` per secret, as Stripe-style senders do while a secret rotates."""
    return sender.signature(body, int(at.timestamp()), secrets)


def request(
    name: str,
    body: bytes | None = None,
    *,
    at: datetime | None = None,
    token: str | None = TOKEN,
    secrets: tuple[str, ...] = (SECRET,),
) -> Request:
    """Signed at `at` (default: now, so build it just before posting it); `token=None` or
    `secrets=()` leaves that proof out."""
    body = fixture_body("shippo", name) if body is None else body
    headers = {"Content-Type": "application/json"}
    if secrets:
        headers["Shippo-Auth-Signature"] = signature(body, at or datetime.now(UTC), secrets)
    query = {"token": token} if token else {}
    return Request("shippo", name, body, headers, query)
