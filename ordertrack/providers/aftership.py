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

from datetime import UTC, date, datetime
from typing import Any

from marshmallow import fields

from ordertrack.facts import Fact, ShipmentRef, TrackingFact, normalize_tracking_number
from ordertrack.providers.base import (
    Credentials,
    Delivery,
    Envelope,
    FlexibleDateTime,
    Lenient,
    classify_topic,
    edge_schema,
    load,
    status_lookup,
)
from ordertrack.providers.spec import Docs, Provider
from ordertrack.signatures import base64_digests, verify_any
from ordertrack.statuses import ShipmentStatus

NAME = "aftership"
KIND = "carrier"
SIGNATURE_HEADER = "aftership-hmac-sha256"

SETUP = """\
In AfterShip's admin, **Tracking → Settings → Webhooks**: add the URL
`https://<your host>/webhooks/aftership`, pick webhook version 2025-07 or later and tick every
shipment status update. Copy the **Webhook secret** shown on that page into
`WEBHOOK_SECRET_AFTERSHIP` (comma-separate the old and new secret while rotating)."""

VERIFIED = (
    "`aftership-hmac-sha256`, the base64 HMAC-SHA256 of the raw body keyed by the webhook secret"
    " as UTF-8; AfterShip signs no time, so there is no replay window to check, and the delivery"
    " id is the body's `event_id`."
)

#: Tracking `tag`, all 9 documented delivery statuses (Delivery Statuses enum, 2025-01+).
TAGS = status_lookup(
    {
        ShipmentStatus.LABEL_CREATED: ("InfoReceived",),
        ShipmentStatus.IN_TRANSIT: ("InTransit",),
        ShipmentStatus.OUT_FOR_DELIVERY: ("OutForDelivery",),
        ShipmentStatus.DELIVERY_FAILED: ("AttemptFail",),
        ShipmentStatus.DELIVERED: ("Delivered",),
        ShipmentStatus.AVAILABLE_FOR_PICKUP: ("AvailableForPickup",),
        # Customs hold, undeliverable, returned: the subtag says which (SUBTAGS).
        ShipmentStatus.EXCEPTION: ("Exception",),
        ShipmentStatus.UNKNOWN: (
            # Added to AfterShip, nothing from the carrier yet: kept, never applied.
            "Pending",
            # No news for 30 days after it was added. That is AfterShip giving up, not the
            # parcel failing: calling it an exception would alarm a customer whose parcel may
            # well be on a shelf at home. Kept with its raw code, never applied.
            "Expired",
        ),
    }
)

#: Tracking `subtag`, every documented delivery sub-status (Delivery Sub-statuses enum,
#: 2025-04 and 2026-07). A subtag decides only where it says more than its tag; None means
#: its tag decides. Unknown subtags are kept in `detail` and their tag decides.
SUBTAGS: dict[str, ShipmentStatus | None] = {
    "InfoReceived_001": None,
    "InTransit_001": None,  # in transit
    "InTransit_002": None,  # acceptance scan
    "InTransit_003": None,  # arrival scan
    "InTransit_004": None,  # arrived in the destination country
    "InTransit_005": None,  # customs clearance completed
    "InTransit_006": None,  # handed over to customs
    "InTransit_007": None,  # departure scan
    "InTransit_008": None,  # problem resolved, moving again
    "InTransit_009": None,  # forwarded to another address
    "InTransit_011": None,  # new in 2026-07, meaning not published: still in transit
    "InTransit_012": None,  # ditto
    "InTransit_013": None,  # ditto
    "OutForDelivery_001": None,  # out for delivery
    # Older sub-status lists had "arrived at the sorting center and available for pickup"
    # under OutForDelivery (whose tag covers "or ready to pick up"): the counter, not the van.
    "OutForDelivery_002": ShipmentStatus.AVAILABLE_FOR_PICKUP,
    "OutForDelivery_003": None,  # customer contacted before delivery
    "OutForDelivery_004": None,  # delivery appointment scheduled
    "AttemptFail_001": None,  # failed attempt, notice usually left
    "AttemptFail_002": None,  # addressee not available
    "AttemptFail_003": None,  # business closed
    "AvailableForPickup_001": None,
    "Delivered_001": None,  # delivered
    "Delivered_002": None,  # picked up by the customer: delivered all the same
    "Delivered_003": None,  # signed by the customer
    "Delivered_004": None,  # delivered, cash on delivery collected
    "Delivered_005": None,  # delivered to a neighbour (2026-07)
    "Exception_001": None,  # generic exception
    "Exception_002": None,  # customer moved
    "Exception_003": None,  # refused by the recipient (a return usually follows, as _010)
    "Exception_004": None,  # customs delay
    "Exception_005": None,  # external delay
    "Exception_006": None,  # held for payment
    "Exception_007": None,  # incorrect address
    "Exception_008": None,  # pick-up missed: waited at the counter, not collected
    "Exception_009": None,  # rejected by the carrier
    # On its way back, and back: the parcel's journey ends at the sender, not the customer.
    "Exception_010": ShipmentStatus.RETURNED,
    "Exception_011": ShipmentStatus.RETURNED,
    "Exception_012": None,  # damaged
    "Exception_013": None,  # lost
    "Exception_016": None,  # delayed, processing issue (2026)
    "Exception_017": None,  # delayed, extreme weather (2026)
    "Exception_018": None,  # incorrect or missing documents (2026)
    "Exception_019": None,  # delayed, late flight (2026)
    # Voided or cancelled by the sender or the carrier (2026): the label will never travel.
    "Exception_020": ShipmentStatus.CANCELLED,
    "Exception_021": None,  # disposed of (2026)
    "Pending_001": None,  # no information yet
    "Pending_002": None,  # newer SDKs list _002.._006 with no published meaning; all pending
    "Pending_003": None,
    "Pending_004": None,
    "Pending_005": None,
    "Pending_006": None,
    "Expired_001": None,
}

#: What docs/providers.md lists, generated from these very tables.
TABLES = {"Tracking `tag`": TAGS, "Tracking `subtag`, where it says more than its tag": SUBTAGS}


class _Checkpoint(Lenient):
    # Kept as text: a time without offset cannot be placed, and must not fail the event.
    checkpoint_time = fields.String(allow_none=True)
    message = fields.String(allow_none=True)


class _LatestEstimate(Lenient):
    datetime = fields.String(allow_none=True)
    datetime_max = fields.String(allow_none=True)


class _DayEstimate(Lenient):
    estimated_delivery_date = fields.String(allow_none=True)


class _Tracking(Lenient):
    tracking_number = fields.String(required=True)
    slug = fields.String(allow_none=True)
    tag = fields.String(required=True)
    subtag = fields.String(allow_none=True)
    subtag_message = fields.String(allow_none=True)
    checkpoints = fields.List(fields.Nested(_Checkpoint), allow_none=True, load_default=list)
    latest_estimated_delivery = fields.Nested(_LatestEstimate, allow_none=True)
    aftership_estimated_delivery_date = fields.Nested(_DayEstimate, allow_none=True)
    courier_estimated_delivery_date = fields.Nested(_DayEstimate, allow_none=True)
    expected_delivery = fields.String(allow_none=True)  # before 2024 versions


class _Event(Lenient):
    event = fields.String(required=True)
    event_id = fields.String(required=True)
    ts = FlexibleDateTime(allow_none=True)
    msg = fields.Nested(_Tracking, required=True)


class _EventHeader(Lenient):
    event = fields.String(required=True)
    event_id = fields.String(required=True)


EVENT_HEADER = _EventHeader()
HANDLED_TOPICS = {"tracking_update": _Event()}
EDGE_SCHEMAS = {topic: edge_schema(schema) for topic, schema in HANDLED_TOPICS.items()}

#: Real AfterShip events ordertrack does not use: answered 200, kept as ignored.
IGNORED_TOPICS = frozenset(
    {
        # A revised estimate with no new scan. The lifecycle dates an estimate by its fact's
        # time, and the only honest time for this fact is the same newest checkpoint the last
        # tracking_update had; a later estimate would apply but an earlier one would not.
        # The next tracking_update carries the revised estimate anyway.
        "edd_revise",
        # "Still pending after N hours", a threshold set in AfterShip: nothing about the parcel.
        "tracking_pending_time",
    }
)


def verify(delivery: Delivery, credentials: Credentials) -> None:
    keys = (secret.encode("utf-8") for secret in credentials.secrets)
    verify_any(delivery.headers.get(SIGNATURE_HEADER), base64_digests(keys, delivery.body))


def envelope(delivery: Delivery, payload: Any) -> Envelope:
    header = load(EVENT_HEADER, payload, "event")
    topic = header["event"]
    handled = classify_topic(topic, HANDLED_TOPICS, IGNORED_TOPICS, NAME)
    if handled:
        load(EDGE_SCHEMAS[topic], payload, topic)
    return Envelope(topic=topic, dedupe_key=header["event_id"], handled=handled)


def status_of(tag: str, subtag: str | None) -> ShipmentStatus:
    """The tag's status, unless the subtag is one of the tag's own and says more. A subtag of
    another tag contradicts the payload and decides nothing; an unknown tag stays unknown."""
    status = TAGS.get(tag, ShipmentStatus.UNKNOWN)
    if status is ShipmentStatus.UNKNOWN or not subtag or not subtag.startswith(f"{tag}_"):
        return status
    return SUBTAGS.get(subtag) or status


def _placed(value: str | None) -> datetime | None:
    """A checkpoint time in UTC. Carriers write the local time of the scan; with its offset it
    can be placed, without one (some carriers) the zone is unknown and guessing UTC would move
    the scan by hours against other sources, so it is skipped."""
    try:
        parsed = datetime.fromisoformat(value or "")
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None


def _day(value: str | None) -> date | None:
    """The calendar day as AfterShip wrote it: `YYYY-MM-DD`, with or without a time."""
    try:
        return date.fromisoformat((value or "")[:10])
    except ValueError:
        return None


def _estimate(msg: dict[str, Any]) -> date | None:
    """The newest estimate first (a range's upper end, the day not to be late by), then
    AfterShip's AI estimate, the carrier's own, and the field versions before 2024 used."""
    latest = msg.get("latest_estimated_delivery") or {}
    candidates = (
        latest.get("datetime") or latest.get("datetime_max"),
        (msg.get("aftership_estimated_delivery_date") or {}).get("estimated_delivery_date"),
        (msg.get("courier_estimated_delivery_date") or {}).get("estimated_delivery_date"),
        msg.get("expected_delivery"),
    )
    return next((day for day in map(_day, candidates) if day), None)


def normalize(topic: str, payload: Any, received_at: datetime) -> list[Fact]:
    event = load(HANDLED_TOPICS[topic], payload, topic)
    msg = event["msg"]
    checkpoints = msg["checkpoints"] or []
    placed = [(at, c) for c in checkpoints if (at := _placed(c.get("checkpoint_time")))]
    # The newest scan is when the status happened; `ts` is when AfterShip noticed.
    occurred_at, newest = max(placed, key=lambda pair: pair[0], default=(None, {}))
    carrier = msg.get("slug")
    return [
        TrackingFact(
            shipment=ShipmentRef(
                tracking_number=normalize_tracking_number(msg["tracking_number"]),
                carrier=carrier,
            ),
            status=status_of(msg["tag"], msg.get("subtag")),
            occurred_at=occurred_at or event.get("ts") or received_at,
            raw_status=msg["tag"],
            detail=msg.get("subtag"),
            message=msg.get("subtag_message") or newest.get("message"),
            carrier=carrier,
            est_delivery=_estimate(msg),
        )
    ]


#: The provider contract (docs/adding-a-provider.md).
DOCS = Docs(__doc__, SETUP, VERIFIED, HANDLED_TOPICS, IGNORED_TOPICS, TABLES)
PROVIDER = Provider(NAME, KIND, verify, envelope, normalize, DOCS)
