"""AfterShip Tracking: the body is `{event, event_id, is_tracking_first_tag, msg, ts}`;
`aftership-hmac-sha256` is the base64 HMAC-SHA256 of the raw body keyed by the webhook secret
as UTF-8 (no prefix, no decoding). `as-webhook-version` names the payload's schema."""

import base64
import hashlib
import hmac

from tests.support.webhooks import Request, fixture_body

#: Not ASCII on purpose: AfterShip keys the HMAC with the secret's UTF-8 bytes.
SECRET = "as-webhook-sécret"
WEBHOOK_VERSION = "2025-07"


def signature(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def request(name: str, body: bytes | None = None) -> Request:
    body = fixture_body("aftership", name) if body is None else body
    headers = {
        "Content-Type": "application/json",
        "Aftership-Hmac-Sha256": signature(body),
        "As-Webhook-Version": WEBHOOK_VERSION,
        "User-Agent": "AfterShipTrackingWebhook/4.0.0 (https://www.aftership.com)",
    }
    return Request("aftership", name, body, headers)
