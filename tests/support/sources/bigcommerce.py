"""BigCommerce: the callback body names the scope and ids; the custom header the hook was created
with and the Standard Webhooks headers come from the simulator's signer.

The worker then reads the store's V2 API: `api_url()` and `api_body()` serve the recorded
responses in tests/fixtures/bigcommerce/api/ to the `responses` library."""

import json

from simulate.sources import bigcommerce as sender
from tests.support.webhooks import FIXTURES, Request, fixture_body

SECRET = "bc-hook-token-3f9a1c7e"
#: The custom header every hook in the story was created with.
HEADER = sender.HEADER
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


def request(
    name: str, body: bytes | None = None, *, header: str = HEADER, token: str = SECRET
) -> Request:
    body = fixture_body("bigcommerce", name) if body is None else body
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "pekko-http/1.3.0",
        **sender.standard_webhook_headers(body, CLIENT_SECRET),
        **sender.sign(body, token, header),
    }
    return Request("bigcommerce", name, body, headers)


def api_url(path: str) -> str:
    """`/orders/3001` -> the store's V2 URL for it."""
    return f"{API_BASE}/stores/{STORE_HASH}/v2{path}"


def api_body(name: str):
    """A recorded V2 response body, parsed (tests/fixtures/bigcommerce/api/<name>.json)."""
    return json.loads((FIXTURES / "bigcommerce" / "api" / f"{name}.json").read_text())
