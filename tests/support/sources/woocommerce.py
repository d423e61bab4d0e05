"""WooCommerce, as WC_Webhook::deliver() sends: the body is the REST v3 resource (escaped by
wp_json_encode), the topic and ids travel in X-WC-Webhook-* headers, and X-WC-Webhook-Signature
is signed by the simulator's signer (base64 HMAC-SHA256 keyed by wp_specialchars_decode(secret)).

A fixture's topic is its name before any `__variant`, with the first `_` made a `.`
(`order_updated__completed` is `order.updated`): WooCommerce resources have no `_` in them.
"""

import hashlib

from simulate.sources import woocommerce as sender
from tests.support.webhooks import Request, fixture_body

#: As the WooCommerce admin shows a stored secret: with HTML entities, which WooCommerce decodes
#: before signing, so every request in the tests proves the decoding.
SECRET = "wc_s3cret&amp;&lt;test&gt;"
SITE = "https://analytical-engines.example/"
USER_AGENT = "WooCommerce/10.3.0 Hookshot (WordPress/6.9)"
#: One webhook per topic, as the WooCommerce admin creates them.
WEBHOOK_IDS = {"order.created": 11, "order.updated": 12, "order.deleted": 13, "order.restored": 14}


def topic_of(name: str) -> str:
    resource, _, event = name.partition("__")[0].partition("_")
    return f"{resource}.{event}"


def delivery_id(webhook_id: int, name: str) -> str:
    """wp_hash(webhook id . time()): 32 hex digits. Here a stable stand-in per fixture."""
    return hashlib.sha256(f"{webhook_id}:{name}".encode()).hexdigest()[:32]


def request(
    name: str,
    body: bytes | None = None,
    *,
    topic: str | None = None,
    delivery: str | None = None,
    secret: str = SECRET,
) -> Request:
    body = fixture_body("woocommerce", name) if body is None else body
    topic = topic or topic_of(name)
    webhook_id = WEBHOOK_IDS.get(topic, 19)
    resource, _, event = topic.partition(".")
    headers = {
        "User-Agent": USER_AGENT,
        "Content-Type": "application/json",
        "X-WC-Webhook-Source": SITE,
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": sender.signature(body, secret),
        "X-WC-Webhook-ID": str(webhook_id),
        "X-WC-Webhook-Delivery-ID": delivery or delivery_id(webhook_id, name),
    }
    return Request("woocommerce", name, body, headers)


def ping(webhook_id: int = 12) -> Request:
    """WC_Webhook::deliver_ping(): sent when a webhook is saved, unsigned. The content type is
    what the WordPress HTTP API's socket transport sets for a string body (not verified: see
    tests/fixtures/woocommerce/README.md)."""
    headers = {
        "User-Agent": USER_AGENT,
        "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
    }
    return Request("woocommerce", "ping", f"webhook_id={webhook_id}".encode(), headers)
