"""EasyPost: tracker events from the carrier aggregator.

Reference: docs.easypost.com/docs/events and the Tracker object; signature per
EasyPost/easypost-python `validate_webhook`. The body is an Event whose `result` is a Tracker;
the Event `id` is the delivery's dedupe key. Signed with `hmac-sha256-hex=<hex>` over the raw
body, keyed by the webhook secret after Unicode NFKD normalization.
"""

import unicodedata
from typing import Any

from ordertrack.providers.base import Credentials, Envelope, WebhookRequest, classify_topic, load
from ordertrack.providers.easypost import tables
from ordertrack.providers.easypost.normalizers import normalize
from ordertrack.providers.easypost.schemas import EDGE_SCHEMAS, EVENT_HEADER, HANDLED_TOPICS
from ordertrack.providers.spec import Docs, Provider
from ordertrack.signatures import hex_digests, verify_any

SIGNATURE_HEADER = "X-Hmac-Signature"
SIGNATURE_PREFIX = "hmac-sha256-hex="


def _key(secret: str) -> bytes:
    return unicodedata.normalize("NFKD", secret).encode("utf-8")


def verify(delivery: WebhookRequest, credentials: Credentials) -> None:
    expected = [
        SIGNATURE_PREFIX + h for h in hex_digests(map(_key, credentials.secrets), delivery.body)
    ]
    verify_any(delivery.headers.get(SIGNATURE_HEADER), expected)


def envelope(delivery: WebhookRequest, payload: Any) -> Envelope:
    header = load(EVENT_HEADER, payload, "event")
    topic = header["description"]
    handled = classify_topic(topic, HANDLED_TOPICS, tables.IGNORED_TOPICS, tables.NAME)
    if handled:
        load(EDGE_SCHEMAS[topic], payload, topic)
    return Envelope(topic=topic, dedupe_key=header["id"], handled=handled)


#: The provider contract (docs/adding-a-provider.md).
DOCS = Docs(
    __doc__, tables.SETUP, tables.VERIFIED, HANDLED_TOPICS, tables.IGNORED_TOPICS, tables.TABLES
)
PROVIDER = Provider(tables.NAME, tables.KIND, verify, envelope, normalize, DOCS)
