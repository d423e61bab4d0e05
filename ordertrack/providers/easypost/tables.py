"""EasyPost's name, its status table and the texts docs/providers.md shows, as data."""

from ordertrack.providers.base import status_lookup
from ordertrack.statuses import ShipmentStatus

NAME = "easypost"
KIND = "carrier"

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
