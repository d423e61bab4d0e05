"""Shopify: orders, fulfillments and fulfillment events from the Admin webhooks.

Reference: shopify.dev/docs/api/webhooks (REST payloads, API 2026-07). The body is the REST
resource; the topic and the delivery id travel in headers. Signed with a base64 HMAC-SHA256 of
the raw body, keyed by the app's client secret (or the admin notification key).
"""

from typing import Any

from ordertrack.errors import MissingFields
from ordertrack.providers.base import Credentials, Envelope, WebhookRequest, classify_topic, load
from ordertrack.providers.shopify import tables
from ordertrack.providers.shopify.normalizers import normalize
from ordertrack.providers.shopify.schemas import EDGE_SCHEMAS, HANDLED_TOPICS
from ordertrack.providers.spec import Docs, Provider
from ordertrack.signatures import base64_digests, verify_any

SIGNATURE_HEADER = "X-Shopify-Hmac-Sha256"


def verify(delivery: WebhookRequest, credentials: Credentials) -> None:
    expected = base64_digests((s.encode() for s in credentials.secrets), delivery.body)
    verify_any(delivery.headers.get(SIGNATURE_HEADER), expected)


def envelope(delivery: WebhookRequest, payload: Any) -> Envelope:
    topic = delivery.headers.get("X-Shopify-Topic")
    handled = classify_topic(topic, HANDLED_TOPICS, tables.IGNORED_TOPICS, tables.NAME)
    webhook_id = delivery.headers.get("X-Shopify-Webhook-Id")
    if not webhook_id:
        raise MissingFields("X-Shopify-Webhook-Id header is missing")
    if handled:
        load(EDGE_SCHEMAS[topic], payload, topic)
    return Envelope(topic=topic, dedupe_key=webhook_id, handled=handled)


#: The provider contract (docs/adding-a-provider.md).
DOCS = Docs(
    __doc__, tables.SETUP, tables.VERIFIED, HANDLED_TOPICS, tables.IGNORED_TOPICS, tables.TABLES
)
PROVIDER = Provider(tables.NAME, tables.KIND, verify, envelope, normalize, DOCS)
