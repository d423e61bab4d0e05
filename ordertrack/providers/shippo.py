"""Shippo: track_updated webhooks from the shipping aggregator.

Reference: docs.goshippo.com (tracking, webhooks, webhook security; the Track object as in
goshippo's SDKs). The body is `{"event", "test", "data": Track}`. Shippo authenticates by a
token of our choosing in the URL (`?token=`) and, where Shippo has enabled it for the account,
by `Shippo-Auth-Signature: t=<unix>,v1=<hex>` over `"<t>.<raw body>"`, Stripe's scheme, with
the timestamp checked against a tolerance so a captured request cannot be replayed.
"""

import hashlib
from datetime import datetime
from typing import Any

from marshmallow import fields

from ordertrack.errors import BadSignature
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
from ordertrack.signatures import verify_any, verify_timestamped
from ordertrack.statuses import ShipmentStatus

NAME = "shippo"
KIND = "carrier"
SIGNATURE_HEADER = "Shippo-Auth-Signature"
TOKEN_PARAMETER = "token"  # noqa: S105 (the query parameter's name, not a secret)

SETUP = """\
In the Shippo API portal, **Webhooks → Add webhook**: event type **Track Updated**, the
environment you ship in, URL `https://<your host>/webhooks/shippo?token=<a long random value>`
(under 200 characters), and set the same value in `WEBHOOK_TOKEN_SHIPPO`. If Shippo has
enabled signed webhooks for your account (ask your account manager), put its HMAC secret in
`WEBHOOK_SECRET_SHIPPO`; with both set, both are checked. Labels bought through Shippo are
tracked by themselves; register others with `POST /tracks` (carrier, tracking_number,
metadata)."""

VERIFIED = (
    "the `?token=` query parameter against WEBHOOK_TOKEN_SHIPPO (constant time), and/or"
    " `Shippo-Auth-Signature: t=<unix>,v1=<hex>` (HMAC-SHA256 of `<t>.<raw body>`, any `v1`)"
    " with `t` within WEBHOOK_TOLERANCE_SECONDS (default 300) of now, past or future, else"
    " refused as a replay; both when both are set. A signature header of more than 6 entries"
    " (`t` and a signature per secret being rotated) is refused unread. Shippo sends no event"
    " id: the delivery id is the tracking number and the status record's `object_id`."
)

#: Track `tracking_status.status`, all 6 documented values (Track object).
STATUSES = status_lookup(
    {
        ShipmentStatus.LABEL_CREATED: ("PRE_TRANSIT",),
        # Out for delivery, attempts and delays are all TRANSIT: the substatus says which.
        ShipmentStatus.IN_TRANSIT: ("TRANSIT",),
        ShipmentStatus.DELIVERED: ("DELIVERED",),
        ShipmentStatus.RETURNED: ("RETURNED",),
        # Failed for good: lost, damaged, undeliverable, disposed of.
        ShipmentStatus.EXCEPTION: ("FAILURE",),
        # Nothing from the carrier yet, or nothing Shippo recognised: kept, never applied.
        ShipmentStatus.UNKNOWN: ("UNKNOWN",),
    }
)

#: `tracking_status.substatus.code`, all 27 documented codes (Tracking "event definitions").
#: Shippo does not say which status each code comes under, so a code refines TRANSIT only
#: (REFINED); the other statuses are definite. None means the status decides.
SUBSTATUSES: dict[str, ShipmentStatus | None] = {
    "information_received": None,  # the carrier has the label data: PRE_TRANSIT says so
    "package_accepted": None,
    "package_arrived": None,
    "package_departed": None,
    "package_processing": None,
    "package_processed": None,
    "package_forwarded": None,  # sent on to another address or carrier, still moving
    "delivery_scheduled": None,
    "delivery_rescheduled": None,  # a new date, still on its way
    "out_for_delivery": ShipmentStatus.OUT_FOR_DELIVERY,
    "delivery_attempted": ShipmentStatus.DELIVERY_FAILED,
    "notice_left": ShipmentStatus.DELIVERY_FAILED,  # the attempt's card in the mailbox
    # The driver could not reach the door (gate, no access): an attempt that failed.
    "location_inaccessible": ShipmentStatus.DELIVERY_FAILED,
    # "Contact carrier to reschedule delivery": the customer must act after a failed attempt.
    "reschedule_delivery": ShipmentStatus.DELIVERY_FAILED,
    "pickup_available": ShipmentStatus.AVAILABLE_FOR_PICKUP,
    "delayed": ShipmentStatus.EXCEPTION,
    # The address needs fixing before the parcel can arrive: the customer's attention.
    "address_issue": ShipmentStatus.EXCEPTION,
    "contact_carrier": ShipmentStatus.EXCEPTION,  # the carrier asks to be called
    # "Held at carrier location, contact carrier": a customs or problem hold, not the pickup
    # counter (that is pickup_available). Attention, not a guess at collection.
    "package_held": ShipmentStatus.EXCEPTION,
    "package_damaged": ShipmentStatus.EXCEPTION,
    "package_lost": ShipmentStatus.EXCEPTION,
    "package_undeliverable": ShipmentStatus.EXCEPTION,
    "package_disposed": ShipmentStatus.EXCEPTION,
    "package_unclaimed": ShipmentStatus.EXCEPTION,  # nobody collected it: it goes back soon
    "return_to_sender": ShipmentStatus.RETURNED,
    "delivered": None,
    "other": None,  # "unrecognized carrier status": the status is all there is
}

#: The one status broad enough for its substatus to decide.
REFINED = "TRANSIT"

#: What docs/providers.md lists, generated from these very tables.
TABLES = {
    "Track `tracking_status.status`": STATUSES,
    "`tracking_status.substatus.code`, under TRANSIT only": SUBSTATUSES,
}


class _Substatus(Lenient):
    code = fields.String(allow_none=True)


class _TrackingStatus(Lenient):
    status = fields.String(required=True)
    object_id = fields.String(allow_none=True)
    status_date = FlexibleDateTime(allow_none=True)
    object_updated = FlexibleDateTime(allow_none=True)
    status_details = fields.String(allow_none=True)
    substatus = fields.Nested(_Substatus, allow_none=True)


class _Track(Lenient):
    tracking_number = fields.String(required=True)
    carrier = fields.String(required=True)
    eta = LocalDate(allow_none=True)
    tracking_status = fields.Nested(_TrackingStatus, required=True)


class _Event(Lenient):
    event = fields.String(required=True)
    data = fields.Nested(_Track, required=True)


class _EventHeader(Lenient):
    event = fields.String(required=True)


EVENT_HEADER = _EventHeader()
HANDLED_TOPICS = {"track_updated": _Event()}
EDGE_SCHEMAS = {topic: edge_schema(schema) for topic, schema in HANDLED_TOPICS.items()}

#: Real Shippo webhook events ordertrack does not use: answered 200, kept as ignored.
IGNORED_TOPICS = frozenset(
    {"transaction_created", "transaction_updated", "batch_created", "batch_purchased"}
)


def verify(delivery: Delivery, credentials: Credentials) -> None:
    """Whatever is configured must pass: the URL token, the signature, or both."""
    if not credentials.configured:
        raise BadSignature("neither WEBHOOK_TOKEN_SHIPPO nor WEBHOOK_SECRET_SHIPPO is set")
    if credentials.tokens:
        _verify_token(delivery.query.get(TOKEN_PARAMETER), credentials.tokens)
    if credentials.secrets:
        verify_timestamped(
            delivery.headers.get(SIGNATURE_HEADER),
            delivery.body,
            credentials.secrets,
            credentials.tolerance,
            credentials.now(),
        )


def _verify_token(presented: str | None, tokens: tuple[str, ...]) -> None:
    if not presented:
        raise BadSignature(f"the ?{TOKEN_PARAMETER}= query parameter is missing")
    try:
        verify_any(presented, tokens)
    except BadSignature:
        raise BadSignature(f"the ?{TOKEN_PARAMETER}= query parameter does not match") from None


def envelope(delivery: Delivery, payload: Any) -> Envelope:
    topic = load(EVENT_HEADER, payload, "event")["event"]
    handled = classify_topic(topic, HANDLED_TOPICS, IGNORED_TOPICS, NAME)
    if not handled:
        return Envelope(topic=topic, dedupe_key=_body_key(topic, delivery.body), handled=False)
    load(EDGE_SCHEMAS[topic], payload, topic)
    return Envelope(
        topic=topic, dedupe_key=_track_key(payload["data"], delivery.body), handled=True
    )


def _body_key(prefix: str, body: bytes) -> str:
    return f"{prefix[:100]}:sha256:{hashlib.sha256(body).hexdigest()}"


def _track_key(track: dict[str, Any], body: bytes) -> str:
    """Shippo sends no event id and warns its track webhooks are not idempotent: a number
    registered twice is notified twice. The status record's own id names the scan whatever
    the delivery, so a repeat of it is a duplicate; without one, identical bodies are."""
    number = normalize_tracking_number(track["tracking_number"])
    status_id = track["tracking_status"].get("object_id")
    if isinstance(status_id, str) and status_id.strip():
        return f"{number[:100]}:{status_id.strip()[:150]}"
    return _body_key(number, body)


def status_of(status: str, substatus: str | None) -> ShipmentStatus:
    """The status's own meaning, refined by the substatus where the status is TRANSIT; an
    unknown status stays unknown whatever its substatus."""
    own = STATUSES.get(status, ShipmentStatus.UNKNOWN)
    if status != REFINED or not substatus:
        return own
    return SUBSTATUSES.get(substatus) or own


def normalize(topic: str, payload: Any, received_at: datetime) -> list[Fact]:
    track = load(HANDLED_TOPICS[topic], payload, topic)["data"]
    latest = track["tracking_status"]
    substatus = (latest.get("substatus") or {}).get("code")
    return [
        TrackingFact(
            shipment=ShipmentRef(
                tracking_number=normalize_tracking_number(track["tracking_number"]),
                carrier=track["carrier"],
            ),
            status=status_of(latest["status"], substatus),
            # When the carrier scanned it (UTC); the record's update time only if Shippo
            # gives no scan time, as it may for UNKNOWN.
            occurred_at=latest.get("status_date") or latest.get("object_updated") or received_at,
            raw_status=latest["status"],
            detail=substatus,
            message=latest.get("status_details"),
            carrier=track["carrier"],
            est_delivery=track.get("eta"),
        )
    ]


#: The provider contract (docs/adding-a-provider.md).
DOCS = Docs(__doc__, SETUP, VERIFIED, HANDLED_TOPICS, IGNORED_TOPICS, TABLES)
PROVIDER = Provider(NAME, KIND, verify, envelope, normalize, DOCS)
