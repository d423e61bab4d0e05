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
from datetime import date, datetime
from typing import Any

from marshmallow import fields, validate

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
from ordertrack.signatures import base64_digests, verify_any
from ordertrack.statuses import ShipmentStatus

NAME = "fedex"
KIND = "carrier"
CARRIER = "FedEx"
SIGNATURE_HEADER = "fdx-signature"
#: The body names no event type: every push is the tracking result of one or more packages.
TOPIC = "tracking_event"

SETUP = """\
In the FedEx Developer Portal, create a **webhook project** (Advanced Integrated Visibility;
U.S. accounts), subscribe your account numbers or tracking numbers, set the destination URL to
`https://<your host>/webhooks/fedex` and choose a **security token** (26-100 characters, upper
and lower case and a digit). Set `WEBHOOK_SECRET_FEDEX` to that token; while changing it,
list the old and the new token, comma-separated. "Test Webhook URL" sends a signed sample."""

VERIFIED = (
    "`fdx-signature`: base64 HMAC-SHA256 of the raw body, keyed by the security token; FedEx"
    " signs no time, so there is no replay window to check. FedEx sends no event id: the"
    " delivery id is a SHA-256 of each package's tracking number, status code and newest scan."
)

#: `latestStatusDetail.code`, with _NO_NEWS below: every code in FedEx's "Tracking Status
#: Codes" table and in its "Status Code and Statuses for Webhook Tracking Events" table (where
#: the two give one code two meanings, the comment says). The table's "Possession" group (CA
#: carrier, RC recipient, SH shipper, CU customs, BR broker, TP transfer partner) says who holds
#: the parcel, not a status: SH, CU, BR and TP are left out and stored as unknown if ever sent.
_MOVES = status_lookup(
    {
        # OC order created / "shipment information sent to FedEx"; MD manifest data; RP a
        # return label was emailed: a label exists, FedEx does not have the parcel yet. So too
        # while a courier is sent for it (DS dispatched, EP en route, AP at pickup) or the
        # vehicle came and went without it (DR vehicle furnished but not used).
        ShipmentStatus.LABEL_CREATED: ("OC", "MD", "RP", "DS", "EP", "AP", "DR"),
        ShipmentStatus.IN_TRANSIT: (
            *("PU", "PX", "DO", "IP"),  # picked up, dropped off, "in FedEx possession"
            *("AA", "AC", "AF", "AR", "AX", "FD", "OF", "SF"),  # at a place on the way
            *("DP", "LO", "EA", "EO", "PF", "PL", "TR", "OX"),  # leaving, flying, transferring
            # In transit, on the way, in progress, location changed. ED "en route to delivery"
            # too: the webhook table files it (as TR) under In-Transit; only OD is Delivery.
            *("IT", "IX", "OW", "PM", "CH", "ED"),
            *("CC", "CP"),  # cleared customs / international release, clearance in progress
        ),
        # AD "at delivery": the courier is at the door, the parcel not yet handed over.
        ShipmentStatus.OUT_FOR_DELIVERY: ("OD", "AD"),
        # DE "delivery exception" is what the courier records when a delivery cannot be
        # completed (recipient out, business closed, refused); the reason goes in `detail`.
        ShipmentStatus.DELIVERY_FAILED: ("DE",),
        ShipmentStatus.AVAILABLE_FOR_PICKUP: ("HL", "HP"),  # held at location, ready for pickup
        ShipmentStatus.DELIVERED: ("DL",),
        # Delays that may still deliver: DD delivery, PD pickup, CD clearance; SE shipment.
        ShipmentStatus.EXCEPTION: ("DD", "PD", "CD", "SE"),
        # RS "return to shipper" / "returning package to shipper": it will not reach the customer.
        ShipmentStatus.RETURNED: ("RS",),
        # CA shipment cancelled; LP/LC a return label cancelled, RD one expired: never used.
        ShipmentStatus.CANCELLED: ("CA", "LP", "LC", "RD"),
    }
)

#: Codes with no news about where the parcel is; kept with any new estimate, the status left
#: where it is.
_NO_NEWS = (
    # Estimate notices: AO arriving on time, AE early, US scheduled delivery updated, and DY
    # ("delay" in the API reference, "delivery updated" among the webhook's EDD events).
    *("AO", "AE", "US", "DY"),
    # Customer requests not yet carried out: RR/RM delivery option requested/updated, RC
    # request cancelled, RT return requested, RA address change requested, HA hold at
    # location accepted (HP/HL follow when the parcel is there).
    *("RR", "RM", "RC", "RT", "RA", "HA"),
    # AS address corrected, PR redirect completed, RG a return label expiring, SP split status
    # of a multi-piece shipment, IN "On Demand Care completed" (and "Initiated" as a derived
    # code: ambiguous either way).
    *("AS", "PR", "RG", "SP", "IN"),
)
assert not set(_MOVES) & set(_NO_NEWS), "a FedEx code is mapped twice"
STATUSES: dict[str, ShipmentStatus | None] = {**_MOVES, **dict.fromkeys(_NO_NEWS)}

#: What docs/providers.md lists, generated from these very tables.
TABLES = {"`latestStatusDetail.code`": STATUSES}


class _ScanEvent(Lenient):
    date = FlexibleDateTime(required=True)
    eventType = fields.String(allow_none=True)  # noqa: N815 - FedEx's names
    eventDescription = fields.String(allow_none=True)  # noqa: N815
    exceptionCode = fields.String(allow_none=True)  # noqa: N815
    exceptionDescription = fields.String(allow_none=True)  # noqa: N815


class _Ancillary(Lenient):
    reason = fields.String(allow_none=True)
    reasonDescription = fields.String(allow_none=True)  # noqa: N815


class _LatestStatus(Lenient):
    code = fields.String(required=True, validate=validate.Regexp(r"\s*\S"))
    derivedCode = fields.String(allow_none=True)  # noqa: N815
    description = fields.String(allow_none=True)
    ancillaryDetails = fields.List(fields.Nested(_Ancillary), load_default=list)  # noqa: N815


class _DateAndTime(Lenient):
    type = fields.String(allow_none=True)
    dateTime = LocalDate(allow_none=True)  # noqa: N815


class _Window(Lenient):
    begins = LocalDate(allow_none=True)
    ends = LocalDate(allow_none=True)


class _TimeWindow(Lenient):
    window = fields.Nested(_Window, load_default=dict)


class _NumberInfo(Lenient):
    trackingNumber = fields.String(allow_none=True)  # noqa: N815


class _TrackResult(Lenient):
    trackingNumberInfo = fields.Nested(_NumberInfo, load_default=dict)  # noqa: N815
    latestStatusDetail = fields.Nested(_LatestStatus, required=True)  # noqa: N815
    scanEvents = fields.List(fields.Nested(_ScanEvent), load_default=list)  # noqa: N815
    dateAndTimes = fields.List(fields.Nested(_DateAndTime), load_default=list)  # noqa: N815
    estimatedDeliveryTimeWindow = fields.Nested(_TimeWindow, allow_none=True)  # noqa: N815


class _CompleteTrackResult(Lenient):
    trackingNumber = fields.String(required=True, validate=validate.Regexp(r"\s*\S"))  # noqa: N815
    trackResults = fields.List(  # noqa: N815
        fields.Nested(_TrackResult), required=True, validate=validate.Length(min=1)
    )


class _Output(Lenient):
    completeTrackResults = fields.List(  # noqa: N815
        fields.Nested(_CompleteTrackResult), required=True, validate=validate.Length(min=1)
    )


class _Push(Lenient):
    output = fields.Nested(_Output, required=True)


HANDLED_TOPICS = {TOPIC: _Push()}
EDGE_SCHEMAS = {topic: edge_schema(schema) for topic, schema in HANDLED_TOPICS.items()}
#: FedEx's webhook pushes nothing but tracking results.
IGNORED_TOPICS: frozenset[str] = frozenset()


def verify(delivery: Delivery, credentials: Credentials) -> None:
    keys = (token.encode("utf-8") for token in credentials.secrets)
    verify_any(delivery.headers.get(SIGNATURE_HEADER), base64_digests(keys, delivery.body))


def envelope(delivery: Delivery, payload: Any) -> Envelope:
    # A body without the Track API's `output` is not a tracking push at all.
    is_push = isinstance(payload, dict) and "output" in payload
    classify_topic(TOPIC if is_push else None, HANDLED_TOPICS, IGNORED_TOPICS, NAME)
    # All of it is checked before it is stored, not only EDGE_SCHEMAS: the key below needs the
    # scans' times, a push is one package's history, and FedEx retries (then queues) a refused
    # push, so the sender sees the 422.
    push = load(HANDLED_TOPICS[TOPIC], payload, TOPIC)
    return Envelope(topic=TOPIC, dedupe_key=dedupe_key(push), handled=True)


def dedupe_key(push: dict) -> str:
    """FedEx gives a push no id. What makes it news is each package's status and newest scan,
    so a push sent twice (or again with a proof-of-delivery image) is one event."""
    parts = sorted(
        "\x1f".join((number, result["latestStatusDetail"]["code"], *_newest_scan_identity(result)))
        for number, result in _results(push)
    )
    return hashlib.sha256("\x1e".join(parts).encode()).hexdigest()


def _newest_scan_identity(result: dict) -> tuple[str, str]:
    scan = _newest_scan(result)
    return (scan["date"].isoformat(), scan.get("eventType") or "") if scan else ("", "")


def normalize(topic: str, payload: Any, received_at: datetime) -> list[Fact]:
    push = load(HANDLED_TOPICS[topic], payload, topic)
    return [_fact(number, result, received_at) for number, result in _results(push)]


def _results(push: dict) -> list[tuple[str, dict]]:
    """Each package with its tracking number: its own `trackingNumberInfo`, else the group's."""
    return [
        (
            normalize_tracking_number(
                result["trackingNumberInfo"].get("trackingNumber") or group["trackingNumber"]
            ),
            result,
        )
        for group in push["output"]["completeTrackResults"]
        for result in group["trackResults"]
    ]


def _fact(number: str, result: dict, received_at: datetime) -> TrackingFact:
    status = result["latestStatusDetail"]
    code = status["code"].strip()
    scan = _newest_scan(result)
    reason, reason_text = _reason(status, scan)
    description = status.get("description") or (scan or {}).get("eventDescription")
    return TrackingFact(
        shipment=ShipmentRef(tracking_number=number, carrier=CARRIER),
        status=STATUSES.get(code, ShipmentStatus.UNKNOWN),
        # The newest scan is when it happened; FedEx gives the summary itself no time.
        occurred_at=scan["date"] if scan else received_at,
        raw_status=code,
        detail=reason,
        message=": ".join(dict.fromkeys(filter(None, (description, reason_text)))) or None,
        carrier=CARRIER,
        est_delivery=_estimate(result),
    )


def _newest_scan(result: dict) -> dict | None:
    # FedEx lists scans newest first; the newest by time wins whatever the order.
    return max(result["scanEvents"], key=lambda scan: scan["date"], default=None)


def _reason(status: dict, scan: dict | None) -> tuple[str | None, str | None]:
    """FedEx's reason for the status (an exception or hold code and its text, e.g. "015A"
    package available for pickup): the summary's first ancillary detail, else the newest
    scan's exception (a delivery scan's may be only a text: "Left at front door")."""
    for detail in status["ancillaryDetails"]:
        if detail.get("reason"):
            return detail["reason"], detail.get("reasonDescription") or None
    if scan:
        return scan.get("exceptionCode") or None, scan.get("exceptionDescription") or None
    return None, None


def _estimate(result: dict) -> date | None:
    """The day FedEx expects to deliver, as written: `ESTIMATED_DELIVERY` among `dateAndTimes`,
    else the end (or start) of the estimated delivery time window."""
    for entry in result["dateAndTimes"]:
        if entry.get("type") == "ESTIMATED_DELIVERY" and entry.get("dateTime"):
            return entry["dateTime"]
    window = (result.get("estimatedDeliveryTimeWindow") or {}).get("window") or {}
    return window.get("ends") or window.get("begins")


#: The provider contract (docs/adding-a-provider.md).
DOCS = Docs(__doc__, SETUP, VERIFIED, HANDLED_TOPICS, IGNORED_TOPICS, TABLES)
PROVIDER = Provider(NAME, KIND, verify, envelope, normalize, DOCS)
