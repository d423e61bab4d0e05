"""Shopify: the topic and delivery ids travel in headers (tests/fixtures/shopify/topics.json);
the body is signed by the simulator's signer."""

import json

from simulate.sources import shopify as sender
from tests.support.webhooks import FIXTURES, Request, fixture_body

SECRET = "shpss_test_secret"
_TOPICS = json.loads((FIXTURES / "shopify" / "topics.json").read_text())


def signature(body: bytes, secret: str = SECRET) -> str:
    return sender.signature(body, secret)


def request(name: str, body: bytes | None = None, *, webhook_id: str | None = None) -> Request:
    meta = _TOPICS[name]
    body = fixture_body("shopify", name) if body is None else body
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": meta["topic"],
        "X-Shopify-Hmac-Sha256": signature(body),
        "X-Shopify-Shop-Domain": meta["shop_domain"],
        "X-Shopify-API-Version": meta["api_version"],
        "X-Shopify-Webhook-Id": webhook_id or meta["webhook_id"],
        "X-Shopify-Event-Id": meta["event_id"],
        "X-Shopify-Triggered-At": meta["triggered_at"],
    }
    return Request("shopify", name, body, headers)
