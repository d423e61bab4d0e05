"""EasyPost: tracker events from the carrier aggregator.

Reference: docs.easypost.com/docs/events and the Tracker object; signature per
EasyPost/easypost-python `validate_webhook`. The body is an Event whose `result` is a Tracker;
the Event `id` is the delivery's dedupe key. Signed with `hmac-sha256-hex=<hex>` over the raw
body, keyed by the webhook secret after Unicode NFKD normalization.
"""

import unicodedata
from datetime import datetime
from typing import Any

from marshmallow import fields

from ordertrack.facts import Fact, ShipmentRef, TrackingFact, normalize_tracking_number
from ordertrack.providers.base import (
    Credentials,
    Delivery,
    Envelope,
    FlexibleDateTime,
    Lenient,
    LocalDate,
    classify_topic,
    edge_schema,
    load,
    status_lookup,
)
from ordertrack.providers.spec import Docs, Provider
from ordertrack.signatures import hex_digests, verify_any
from ordertrack.statuses import ShipmentStatus

NAME = "easypost"
KIND = "carrier"
SIGNATURE_HEADER = "X-Hmac-Signature"
SIGNATURE_PREFIX = "hmac-sha256-hex="

SETUP = """\
Create a webhook (dashboard > Webhooks, or `POST /v2/webhooks`) with the URL
`https://<your host>/webhooks/easypost` and a `webhook_secret`; set `WEBHOOK_SECRET_EASYPOST`
to the same secret. Without a secret EasyPost signs nothing, and ordertrack refuses it.
"""
VERIFIED = (
    "`X-Hmac-Signature`: `hmac-sha256-hex=` + hex HMAC-SHA256 of the raw body, keyed by the "
    "NFKD-normalized secret; the delivery id is the Event `id`."
)

#: Tracker `status`, every documented value (Tracker object, API v2).
STATUSES = status_lookup(
    {
        ShipmentStatus.LABEL_CREATED: ("pre_transit",),
        ShipmentStatus.IN_TRANSIT: ("in_transit",),
        ShipmentStatus.OUT_FOR_DELIVERY: ("out_for_delivery",),
        ShipmentStatus.DELIVERED: ("delivered",),
        ShipmentStatus.AVAILABLE_FOR_PICKUP: ("available_for_pickup",),
        ShipmentStatus.RETURNED: ("return_to_sender",),
        # `failure` is final for the parcel (lost, damaged, undeliverable).
        ShipmentStatus.EXCEPTION: ("failure",),
        ShipmentStatus.CANCELLED: ("cancelled",),
        # No information yet, or the carrier's tracking itself failed: kept, never applied,
        # and certainly not guessed as "in transit".
        ShipmentStatus.UNKNOWN: ("unknown", "error"),
    }
)


class _Detail(Lenient):
    datetime = FlexibleDateTime(required=True)
    status = fields.String(allow_none=True)
    message = fields.String(allow_none=True)


class _Tracker(Lenient):
    tracking_code = fields.String(required=True)
    carrier = fields.String(allow_none=True)
    status = fields.String(required=True)
    status_detail = fields.String(allow_none=True)
    est_delivery_date = LocalDate(allow_none=True)
    updated_at = FlexibleDateTime(allow_none=True)
    tracking_details = fields.List(fields.Nested(_Detail), load_default=list)


class _Event(Lenient):
    id = fields.String(required=True)
    description = fields.String(required=True)
    created_at = FlexibleDateTime(required=True)
    result = fields.Nested(_Tracker, required=True)


class _EventHeader(Lenient):
    id = fields.String(required=True)
    description = fields.String(required=True)


EVENT_HEADER = _EventHeader()
HANDLED_TOPICS = {"tracker.created": _Event(), "tracker.updated": _Event()}
EDGE_SCHEMAS = {topic: edge_schema(schema) for topic, schema in HANDLED_TOPICS.items()}

#: What docs/providers.md lists, generated from these very tables.
TABLES = {"Tracker `status`": STATUSES}

#: Real EasyPost event descriptions ordertrack does not use: answered 200, kept as ignored.
IGNORED_TOPICS = frozenset(
    {
        "batch.created",
        "batch.updated",
        "insurance.purchased",
        "insurance.cancelled",
        "payment.completed",
        "payment.failed",
        "refund.successful",
        "report.new",
        "report.available",
        "report.failed",
        "scan_form.created",
        "scan_form.updated",
        "shipment.invoice.created",
        "shipment.invoice.updated",
    }
)


def _key(secret: str) -> bytes:
    return unicodedata.normalize("NFKD", secret).encode("utf-8")


def verify(delivery: Delivery, credentials: Credentials) -> None:
    expected = [
        SIGNATURE_PREFIX + h for h in hex_digests(map(_key, credentials.secrets), delivery.body)
    ]
    verify_any(delivery.headers.get(SIGNATURE_HEADER), expected)


def envelope(delivery: Delivery, payload: Any) -> Envelope:
    header = load(EVENT_HEADER, payload, "event")
    topic = header["description"]
    handled = classify_topic(topic, HANDLED_TOPICS, IGNORED_TOPICS, NAME)
    if handled:
        load(EDGE_SCHEMAS[topic], payload, topic)
    return Envelope(topic=topic, dedupe_key=header["id"], handled=handled)


def normalize(topic: str, payload: Any, received_at: datetime) -> list[Fact]:
    event = load(HANDLED_TOPICS[topic], payload, topic)
    tracker = event["result"]
    details = tracker["tracking_details"]
    # The newest tracking detail is when the status happened; the event's own time is only
    # when EasyPost noticed.
    occurred_at = max((d["datetime"] for d in details), default=None)
    return [
        TrackingFact(
            shipment=ShipmentRef(
                tracking_number=normalize_tracking_number(tracker["tracking_code"]),
                carrier=tracker.get("carrier"),
            ),
            status=STATUSES.get(tracker["status"], ShipmentStatus.UNKNOWN),
            occurred_at=occurred_at or tracker.get("updated_at") or event["created_at"],
            raw_status=tracker["status"],
            detail=tracker.get("status_detail"),
            message=details[-1].get("message") if details else None,
            carrier=tracker.get("carrier"),
            est_delivery=tracker.get("est_delivery_date"),
        )
    ]


#: The provider contract (docs/adding-a-provider.md).
DOCS = Docs(__doc__, SETUP, VERIFIED, HANDLED_TOPICS, IGNORED_TOPICS, TABLES)
PROVIDER = Provider(NAME, KIND, verify, envelope, normalize, DOCS)
