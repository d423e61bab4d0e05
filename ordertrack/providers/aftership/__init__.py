"""AfterShip Tracking: shipment updates from the tracking aggregator.

Reference: aftership.com/docs/tracking (webhook specifications and signature, the Tracking
model, delivery statuses and sub-statuses, webhook changelog up to 2026-07). The body is
`{event, event_id, is_tracking_first_tag, msg, ts}` where `msg` is the Tracking object in the
webhook version chosen in AfterShip's admin (sent as `as-webhook-version`). We read only fields
that every version from 2025-01 on names alike (`tag`, `subtag`, `subtag_message`, `slug`,
`tracking_number`, `checkpoints[].checkpoint_time`, the estimates); the fixtures use 2025-07.
`aftership-hmac-sha256` is the base64 HMAC-SHA256 of the raw body keyed by the webhook secret.
Nothing else is signed and `ts` is not, so there is no replay window: `event_id` deduplicates.
"""

from typing import Any

from ordertrack.providers.aftership import tables
from ordertrack.providers.aftership.normalizers import normalize
from ordertrack.providers.aftership.schemas import EDGE_SCHEMAS, EVENT_HEADER, HANDLED_TOPICS
from ordertrack.providers.base import Credentials, Envelope, WebhookRequest, classify_topic, load
from ordertrack.providers.spec import Docs, Provider
from ordertrack.signatures import base64_digests, verify_any

SIGNATURE_HEADER = "aftership-hmac-sha256"


def verify(delivery: WebhookRequest, credentials: Credentials) -> None:
    keys = (secret.encode("utf-8") for secret in credentials.secrets)
    verify_any(delivery.headers.get(SIGNATURE_HEADER), base64_digests(keys, delivery.body))


def envelope(delivery: WebhookRequest, payload: Any) -> Envelope:
    header = load(EVENT_HEADER, payload, "event")
    topic = header["event"]
    handled = classify_topic(topic, HANDLED_TOPICS, tables.IGNORED_TOPICS, tables.NAME)
    if handled:
        load(EDGE_SCHEMAS[topic], payload, topic)
    return Envelope(topic=topic, dedupe_key=header["event_id"], handled=handled)


#: The provider contract (docs/adding-a-provider.md).
DOCS = Docs(
    __doc__, tables.SETUP, tables.VERIFIED, HANDLED_TOPICS, tables.IGNORED_TOPICS, tables.TABLES
)
PROVIDER = Provider(tables.NAME, tables.KIND, verify, envelope, normalize, DOCS)
