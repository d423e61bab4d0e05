"""FedEx Advanced Integrated Visibility (shipment visibility webhook): tracking pushes.

Reference: developer.fedex.com, shipment-visibility-webhook docs (business rules: the
`fdx-signature` header, HMAC-SHA256 keyed by the webhook project's security token, base64) and
the API reference's "Tracking Status Codes" and "Status Code and Statuses for Webhook Tracking
Events" tables. The body mirrors a Track API response, `output.completeTrackResults[]
.trackResults[]`, each with the package's `latestStatusDetail`, its `scanEvents` newest first,
`dateAndTimes` and `estimatedDeliveryTimeWindow`.

Status: from `latestStatusDetail.code`, the package's status as FedEx sums it up, not from the
newest scan's `eventType` (a push for "arriving on time" or a delivery-option request still has
the package in transit). `derivedCode` is not used: FedEx derives "IT" even for a package on
the vehicle for delivery.
"""

import hashlib
from typing import Any

from ordertrack.providers.base import Credentials, Envelope, WebhookRequest, classify_topic, load
from ordertrack.providers.fedex import tables
from ordertrack.providers.fedex.normalizers import newest_scan, normalize, results
from ordertrack.providers.fedex.schemas import HANDLED_TOPICS
from ordertrack.providers.spec import Docs, Provider
from ordertrack.signatures import base64_digests, verify_any

SIGNATURE_HEADER = "fdx-signature"


def verify(delivery: WebhookRequest, credentials: Credentials) -> None:
    keys = (token.encode("utf-8") for token in credentials.secrets)
    verify_any(delivery.headers.get(SIGNATURE_HEADER), base64_digests(keys, delivery.body))


def envelope(delivery: WebhookRequest, payload: Any) -> Envelope:
    # A body without the Track API's `output` is not a tracking push at all.
    is_push = isinstance(payload, dict) and "output" in payload
    classify_topic(
        tables.TOPIC if is_push else None, HANDLED_TOPICS, tables.IGNORED_TOPICS, tables.NAME
    )
    # All of it is checked before it is stored, not only EDGE_SCHEMAS: the key below needs the
    # scans' times, a push is one package's history, and FedEx retries (then queues) a refused
    # push, so the sender sees the 422.
    push = load(HANDLED_TOPICS[tables.TOPIC], payload, tables.TOPIC)
    return Envelope(topic=tables.TOPIC, dedupe_key=dedupe_key(push), handled=True)


def dedupe_key(push: dict) -> str:
    """FedEx gives a push no id. What makes it news is each package's status and newest scan,
    so a push sent twice (or again with a proof-of-delivery image) is one event."""
    parts = sorted(
        "\x1f".join((number, result["latestStatusDetail"]["code"], *_newest_scan_identity(result)))
        for number, result in results(push)
    )
    return hashlib.sha256("\x1e".join(parts).encode()).hexdigest()


def _newest_scan_identity(result: dict) -> tuple[str, str]:
    scan = newest_scan(result)
    return (scan["date"].isoformat(), scan.get("eventType") or "") if scan else ("", "")


#: The provider contract (docs/adding-a-provider.md).
DOCS = Docs(
    __doc__, tables.SETUP, tables.VERIFIED, HANDLED_TOPICS, tables.IGNORED_TOPICS, tables.TABLES
)
PROVIDER = Provider(tables.NAME, tables.KIND, verify, envelope, normalize, DOCS)
