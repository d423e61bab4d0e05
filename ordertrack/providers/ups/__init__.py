"""UPS Track Alert: one push per package scan, for 14 days after subscribing a 1Z number.

Reference: UPS-API/api-documentation `UPSTrackAlert.yaml` (v1, webhook `TrackingEvent`,
schema `TrackingEventRequest`) and `UPSTrackAlertEnhanced.yaml` (v2). The body is one scan:
`trackingNumber`, `activityStatus{type, code, description, descriptionCode}`, GMT and local
activity date and time, `scheduledDeliveryDate`. It names no event type and carries no event
id. There is no HMAC: UPS sends back, in the `credential` header, the opaque value given as
`destination.credential` when subscribing, and that value is all there is to check.

Status: by the 2-character `code` first, then by the activity `type`, and only where the type
alone says what happened. UPS's own example sends "OT" out-for-delivery with type `I`, so a
type is never enough to tell in transit from out for delivery or delivered.
"""

import hashlib
from typing import Any

from ordertrack.facts import normalize_tracking_number
from ordertrack.providers.base import Credentials, Envelope, WebhookRequest, classify_topic, load
from ordertrack.providers.spec import Docs, Provider
from ordertrack.providers.ups import tables
from ordertrack.providers.ups.normalizers import normalize
from ordertrack.providers.ups.schemas import EDGE_SCHEMAS, HANDLED_TOPICS
from ordertrack.signatures import verify_any

SIGNATURE_HEADER = "credential"

#: The raw fields that identify one scan, in the order they are hashed into the dedupe key.
_SCAN_FIELDS = ("gmtActivityDate", "gmtActivityTime", "localActivityDate", "localActivityTime")


def verify(delivery: WebhookRequest, credentials: Credentials) -> None:
    verify_any(delivery.headers.get(SIGNATURE_HEADER), credentials.secrets)


def envelope(delivery: WebhookRequest, payload: Any) -> Envelope:
    # A body with neither of the two fields UPS requires is not a Track Alert push at all.
    is_push = isinstance(payload, dict) and (
        "activityStatus" in payload or "trackingNumber" in payload
    )
    classify_topic(
        tables.TOPIC if is_push else None, HANDLED_TOPICS, tables.IGNORED_TOPICS, tables.NAME
    )
    # Only what the push must carry is checked here: UPS never retries, so a scan with, say, a
    # malformed date is better stored (and failed, visibly, by the worker) than refused.
    event = load(EDGE_SCHEMAS[tables.TOPIC], payload, tables.TOPIC)
    return Envelope(topic=tables.TOPIC, dedupe_key=dedupe_key(payload, event), handled=True)


def dedupe_key(payload: dict, event: dict) -> str:
    """UPS gives a scan no id: the scan is its package, its time and its status, so the same
    scan pushed twice (however the JSON is spaced) is one event, and two scans are two."""
    status = payload["activityStatus"]
    parts = [normalize_tracking_number(event["tracking_number"])]
    parts += [_text(payload.get(name)) for name in _SCAN_FIELDS]
    parts += [_text(status.get("type")), _text(status.get("code"))]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


#: The provider contract (docs/adding-a-provider.md).
DOCS = Docs(
    __doc__, tables.SETUP, tables.VERIFIED, HANDLED_TOPICS, tables.IGNORED_TOPICS, tables.TABLES
)
PROVIDER = Provider(tables.NAME, tables.KIND, verify, envelope, normalize, DOCS)
