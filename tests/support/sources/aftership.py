"""AfterShip Tracking: the body is `{event, event_id, is_tracking_first_tag, msg, ts}`;
`as-webhook-version` names the payload's schema. Signed by the simulator's signer."""

from simulate.sources import aftership as sender
from tests.support.webhooks import Request, fixture_body

#: Not ASCII on purpose: AfterShip keys the HMAC with the secret's UTF-8 bytes.
SECRET = "as-webhook-sécret"
WEBHOOK_VERSION = "2025-07"


def request(name: str, body: bytes | None = None) -> Request:
    body = fixture_body("aftership", name) if body is None else body
    headers = {
        "Content-Type": "application/json",
        "Aftership-Hmac-Sha256": signature(body),
        "As-Webhook-Version": WEBHOOK_VERSION,
        "User-Agent": "AfterShipTrackingWebhook/4.0.0 (https://www.aftership.com)",
    }
    return Request("aftership", name, body, headers)


def signature(body: bytes, secret: str = SECRET) -> str:
    return sender.signature(body, secret)
