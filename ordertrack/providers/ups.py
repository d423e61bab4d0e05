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
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from ordertrack.facts import Fact, ShipmentRef, TrackingFact, normalize_tracking_number
from ordertrack.providers.base import (
    Credentials,
    Delivery,
    Envelope,
    Lenient,
    classify_topic,
    edge_schema,
    load,
    status_lookup,
)
from ordertrack.providers.spec import Docs, Provider
from ordertrack.signatures import verify_any
from ordertrack.statuses import ShipmentStatus

NAME = "ups"
KIND = "carrier"
CARRIER = "UPS"
SIGNATURE_HEADER = "credential"
#: The body names no event type: every Track Alert push is one package scan.
TOPIC = "track_alert"

SETUP = """\
Subscribe tracking numbers with the UPS Track Alert API (v1),
`POST /api/track/v1/subscription/standard/package`, with
`destination.url` = `https://<your host>/webhooks/ups`, `destination.credentialType` = `Bearer`
and `destination.credential` = the value of `WEBHOOK_SECRET_UPS` (no commas). UPS sends it back
in the `credential` header of every push. A subscription lasts 14 days; UPS keeps no history
and does not retry, so events sent while ordertrack is down are lost. Track Alert v2's
OAuth delivery (UPS fetching a token from your own token URL) is not supported."""

VERIFIED = (
    "`credential`: the header must equal WEBHOOK_SECRET_UPS (constant time); UPS signs nothing"
    " and sends no timestamp, so there is no replay window to check. UPS sends no event id:"
    " the delivery id is a SHA-256 of the tracking number, the scan's GMT and local date and"
    " time, and its activity type and code."
)

#: Activity status `code`, every code UPS's published Track Alert and Track API documents use
#: (the full "Status Codes" document is not public): the examples in `UPSTrackAlert.yaml`, and
#: `Tracking.yaml`'s Status example.
CODES = status_lookup(
    {
        ShipmentStatus.LABEL_CREATED: ("MP",),  # M "Shipment Ready for UPS" (003)
        # OR "On the Way" (UPS has your package), DP leaving a UPS building (005); SR "Your
        # package was released by the customs agency" (Tracking.yaml): it moves on.
        # YP "Preparing for Delivery" (071): sorted and loaded for the day's run, not yet on
        # the road (UPS's examples send it hours before OT).
        ShipmentStatus.IN_TRANSIT: ("OR", "DP", "YP", "SR"),
        # OT "Out for Delivery" (021) arrives with type I, not D: the code decides.
        ShipmentStatus.OUT_FOR_DELIVERY: ("OT",),
        ShipmentStatus.DELIVERED: ("FS",),  # D "Delivered" (011)
    }
)

#: Activity status `type`, all six, consulted only for a code the table above does not know.
TYPES: dict[str, ShipmentStatus | None] = {
    # Any manifest message means the label exists; a voided manifest means it never ships.
    "M": ShipmentStatus.LABEL_CREATED,
    "MV": ShipmentStatus.CANCELLED,
    # "Something out of the normal happened, but it may still be delivered on time". A failed
    # delivery attempt is an X too; with no published code for it, it stays an exception.
    "X": ShipmentStatus.EXCEPTION,
    # "Normally the scheduled delivery has been updated": news about the estimate, none about
    # where the parcel is. Kept with the new estimate, the status left where it is.
    "U": None,
    # I covers everything from the origin scan to out for delivery, D covers loaded on the
    # vehicle, out for delivery and delivered: with an unknown code, neither says which.
    "I": ShipmentStatus.UNKNOWN,
    "D": ShipmentStatus.UNKNOWN,
}

#: What docs/providers.md lists, generated from these very tables.
TABLES = {"Activity status `code`": CODES, "Activity status `type` (unknown code)": TYPES}


class _Formatted(fields.String):
    """UPS dates (YYYYMMDD), times (HHMMSS) and offsets (-04.00) are strings, and "not every
    field will have a value": an empty string is None."""

    def __init__(self, parse, **kwargs):
        super().__init__(allow_none=True, load_default=None, **kwargs)
        self._parse = parse

    def _deserialize(self, value: Any, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            return None
        try:
            return self._parse(text)
        except ValueError:
            raise ValidationError(f"not a UPS {attr}: {text[:20]!r}") from None


def _date(text: str) -> date:
    if len(text) != 8 or not text.isdigit():
        raise ValueError(text)
    return datetime.strptime(text, "%Y%m%d").date()


def _time(text: str) -> time:
    # Track API examples drop the leading zero of the hour ("74700"); Track Alert pads it.
    if len(text) not in (5, 6) or not text.isdigit():
        raise ValueError(text)
    return datetime.strptime(text.zfill(6), "%H%M%S").time()


def _offset(text: str) -> timedelta:
    """`-04.00` as Track Alert writes it ((-/+)HH.MM), or `-04:00` as the Track API does."""
    sign, hours, separator, minutes = text[:1], text[1:3], text[3:4], text[4:]
    if sign not in ("+", "-") or separator not in (".", ":") or not (hours + minutes).isdigit():
        raise ValueError(text)
    if len(hours) != 2 or len(minutes) != 2:
        raise ValueError(text)
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    return -delta if sign == "-" else delta


class _DescriptionCode(fields.String):
    """A 3-digit string ("021"); the v2 YAML writes it unquoted, which JSON makes a number."""

    def _deserialize(self, value: Any, attr, data, **kwargs) -> str:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1000:
            return f"{value:03d}"
        return super()._deserialize(value, attr, data, **kwargs)


class _ActivityStatus(Lenient):
    # Both optional in UPS's schema; a scan with neither says nothing (see _require_one).
    type = fields.String(load_default="")
    code = fields.String(load_default="")
    description = fields.String(allow_none=True)
    description_code = _DescriptionCode(data_key="descriptionCode", allow_none=True)

    @validates_schema
    def _require_one(self, data: dict, **kwargs) -> None:
        if not (data["type"].strip() or data["code"].strip()):
            raise ValidationError("an activity status needs a type or a code", "code")


class _TrackingEvent(Lenient):
    # A leading space is in UPS's own example (" 1ZABCXYZ0112346789"): only blank is refused.
    tracking_number = fields.String(
        data_key="trackingNumber", required=True, validate=validate.Regexp(r"\s*\S")
    )
    # UPS's name as the attribute: edge_schema() rebuilds a nested field without its data_key.
    activityStatus = fields.Nested(_ActivityStatus, required=True)  # noqa: N815
    gmt_date = _Formatted(_date, data_key="gmtActivityDate")
    gmt_time = _Formatted(_time, data_key="gmtActivityTime")
    local_date = _Formatted(_date, data_key="localActivityDate")
    local_time = _Formatted(_time, data_key="localActivityTime")
    gmt_offset = _Formatted(_offset, data_key="gmtOffset")
    scheduled_delivery = _Formatted(_date, data_key="scheduledDeliveryDate")


HANDLED_TOPICS = {TOPIC: _TrackingEvent()}
EDGE_SCHEMAS = {topic: edge_schema(schema) for topic, schema in HANDLED_TOPICS.items()}
#: Track Alert pushes nothing but tracking events.
IGNORED_TOPICS: frozenset[str] = frozenset()

#: The raw fields that identify one scan, in the order they are hashed into the dedupe key.
_SCAN_FIELDS = ("gmtActivityDate", "gmtActivityTime", "localActivityDate", "localActivityTime")


def verify(delivery: Delivery, credentials: Credentials) -> None:
    verify_any(delivery.headers.get(SIGNATURE_HEADER), credentials.secrets)


def envelope(delivery: Delivery, payload: Any) -> Envelope:
    # A body with neither of the two fields UPS requires is not a Track Alert push at all.
    is_push = isinstance(payload, dict) and (
        "activityStatus" in payload or "trackingNumber" in payload
    )
    classify_topic(TOPIC if is_push else None, HANDLED_TOPICS, IGNORED_TOPICS, NAME)
    # Only what the push must carry is checked here: UPS never retries, so a scan with, say, a
    # malformed date is better stored (and failed, visibly, by the worker) than refused.
    event = load(EDGE_SCHEMAS[TOPIC], payload, TOPIC)
    return Envelope(topic=TOPIC, dedupe_key=dedupe_key(payload, event), handled=True)


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


def normalize(topic: str, payload: Any, received_at: datetime) -> list[Fact]:
    event = load(HANDLED_TOPICS[topic], payload, topic)
    status = event["activityStatus"]
    kind, code = status["type"].strip(), status["code"].strip()
    return [
        TrackingFact(
            shipment=ShipmentRef(
                tracking_number=normalize_tracking_number(event["tracking_number"]),
                carrier=CARRIER,
            ),
            status=canonical_status(kind, code),
            occurred_at=occurred_at(event) or received_at,
            raw_status=code or kind,
            detail="/".join(filter(None, (kind, status.get("description_code")))) or None,
            message=status.get("description") or None,
            carrier=CARRIER,
            est_delivery=event["scheduled_delivery"],
        )
    ]


def canonical_status(kind: str, code: str) -> ShipmentStatus | None:
    """The code when the table knows it; else the type, where the type alone is unambiguous.
    A `U` (no news about the parcel) and anything unknown are kept, never applied."""
    if code in CODES:
        return CODES[code]
    return TYPES.get(kind, ShipmentStatus.UNKNOWN)


def occurred_at(event: dict) -> datetime | None:
    """GMT date and time as UPS gives them; else local date and time less `gmtOffset`. With
    neither, the caller falls back on when the push arrived."""
    if event["gmt_date"] and event["gmt_time"]:
        return datetime.combine(event["gmt_date"], event["gmt_time"], UTC)
    local_date, local_time, offset = event["local_date"], event["local_time"], event["gmt_offset"]
    if local_date is None or local_time is None or offset is None:
        return None
    try:
        return datetime.combine(local_date, local_time, UTC) - offset
    except OverflowError:  # 0001-01-01 at a positive offset has no UTC form
        return None


#: The provider contract (docs/adding-a-provider.md).
DOCS = Docs(__doc__, SETUP, VERIFIED, HANDLED_TOPICS, IGNORED_TOPICS, TABLES)
PROVIDER = Provider(NAME, KIND, verify, envelope, normalize, DOCS)
