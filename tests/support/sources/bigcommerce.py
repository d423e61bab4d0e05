"""BigCommerce: the callback body names the scope and ids; authenticity is the custom header the
hook was created with (`headers` on POST /v3/hooks). BigCommerce also sends Standard Webhooks
headers, signed with an app's client secret (its HTTPS webhooks page); they are built here as
documented so the requests look like the real ones, though ordertrack does not check them.

The worker then reads the store's V2 API: `api_url()` and `api_body()` serve the recorded
responses in tests/fixtures/bigcommerce/api/ to the `responses` library."""

import base64
import hashlib
import hmac
import json

from tests.support.webhooks import FIXTURES, Request, fixture_body

SECRET = "bc-hook-token-3f9a1c7e"
#: The custom header every hook in the story was created with.
HEADER = "X-Webhook-Token"
STORE_HASH = "abc123xyz"
ACCESS_TOKEN = "bc-access-token-test-0001"
API_BASE = "https://api.bigcommerce.com"
#: An app's client secret, only for the Standard Webhooks headers ordertrack ignores.
CLIENT_SECRET = "bc-app-client-secret-test"
ENV = {
    "BIGCOMMERCE_ACCESS_TOKEN": ACCESS_TOKEN,
    "BIGCOMMERCE_STORE_HASH": STORE_HASH,
    "BIGCOMMERCE_API_BASE": API_BASE,
}


def standard_webhook_signature(webhook_id: str, timestamp: str, body: bytes) -> str:
    """`v1,` + base64 HMAC-SHA256 of `<id>.<timestamp>.<body>`; BigCommerce's sample hands the
    base64 of the client secret to the standardwebhooks library, which decodes it again."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(CLIENT_SECRET.encode(), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def request(
    name: str, body: bytes | None = None, *, header: str = HEADER, token: str = SECRET
) -> Request:
    body = fixture_body("bigcommerce", name) if body is None else body
    callback = json.loads(body)
    webhook_id = str(callback.get("hash", ""))
    # Observed: delivered a few seconds after the event's created_at.
    timestamp = str(int(callback.get("created_at", 0)) + 3)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "pekko-http/1.3.0",
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": standard_webhook_signature(webhook_id, timestamp, body),
        header: token,
    }
    return Request("bigcommerce", name, body, headers)


def api_url(path: str) -> str:
    """`/orders/3001` -> the store's V2 URL for it."""
    return f"{API_BASE}/stores/{STORE_HASH}/v2{path}"


def api_body(name: str):
    """A recorded V2 response body, parsed (tests/fixtures/bigcommerce/api/<name>.json)."""
    return json.loads((FIXTURES / "bigcommerce" / "api" / f"{name}.json").read_text())
