"""BigCommerce, as its webhooks send: a thin callback (`{scope, store_id, data, hash,
created_at, producer}`) whose authenticity is the custom header the hook was created with
(`headers` on `POST /v3/hooks`). BigCommerce also sends Standard Webhooks headers, signed with an
app's client secret (its HTTPS webhooks page); they are built as documented so requests look
like the real ones, though ordertrack does not check them.

Only the signer lives here: a story cannot be played through BigCommerce, whose worker reads
the order back from the store's REST API (see PLATFORMS)."""

import base64
import json

from simulate.sources import hmac_sha256

NAME = "bigcommerce"
#: The custom header a hook is created with, unless WEBHOOK_HEADER_BIGCOMMERCE names another.
HEADER = "X-Webhook-Token"


def sign(body: bytes, secret: str, header: str = HEADER) -> dict[str, str]:
    """The hook's custom header carries the secret itself, whatever the body."""
    return {header: secret}


def standard_webhook_headers(body: bytes, client_secret: str) -> dict[str, str]:
    """`webhook-id` (the callback's hash), `webhook-timestamp` (observed: a few seconds after
    the callback's created_at) and `webhook-signature`."""
    callback = json.loads(body)
    webhook_id = str(callback.get("hash", ""))
    timestamp = str(int(callback.get("created_at", 0)) + 3)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": standard_webhook_signature(webhook_id, timestamp, body, client_secret),
    }


def standard_webhook_signature(
    webhook_id: str, timestamp: str, body: bytes, client_secret: str
) -> str:
    """`v1,` + base64 HMAC-SHA256 of `<id>.<timestamp>.<body>`; BigCommerce's sample hands the
    base64 of the client secret to the standardwebhooks library, which decodes it again."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac_sha256(client_secret.encode(), signed)).decode()
