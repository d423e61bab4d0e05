"""FedEx Advanced Integrated Visibility (shipment visibility webhook), as FedEx pushes it
(developer.fedex.com, shipment-visibility-webhook docs): the body mirrors a Track API
response, `output.completeTrackResults[].trackResults[]` with the package's
`latestStatusDetail`, its `scanEvents` (newest first) and `dateAndTimes`; `fdx-signature` is
the base64 HMAC-SHA256 of the raw body keyed by the webhook project's security token. FedEx
sends no event id."""

from datetime import datetime, time

from ordertrack.statuses import ShipmentStatus
from simulate.sources import (
    SCAN_TEXT,
    SHOP_ZONE,
    Post,
    Scene,
    base64_hmac,
    compact,
    local,
    post,
    track_step,
)
from simulate.stories import Track

NAME = "fedex"
CARRIER = "FedEx"

#: `latestStatusDetail` code, derived code, status by locale and description (FedEx's
#: "Tracking Status Codes"), and an exception reason where FedEx gives one.
SCANS: dict[ShipmentStatus, tuple[str, str, str, str, tuple[str, str] | None]] = {
    ShipmentStatus.LABEL_CREATED: (
        "OC",
        "IN",
        "Initiated",
        "Shipment information sent to FedEx",
        None,
    ),
    ShipmentStatus.IN_TRANSIT: ("IT", "IT", "In transit", "In transit", None),
    ShipmentStatus.OUT_FOR_DELIVERY: (
        "OD",
        "OD",
        "On FedEx vehicle for delivery",
        "On FedEx vehicle for delivery",
        None,
    ),
    # The courier could not complete the delivery: a delivery exception with its reason.
    ShipmentStatus.DELIVERY_FAILED: (
        "DE",
        "DE",
        "Delivery exception",
        "Delivery exception",
        ("08", "Customer not available or business closed"),
    ),
    ShipmentStatus.DELIVERED: ("DL", "DL", "Delivered", "Delivered", None),
    ShipmentStatus.RETURNED: (
        "RS",
        "IT",
        "Returning to shipper",
        "Returning package to shipper",
        None,
    ),
}
UNSUPPORTED: dict[ShipmentStatus, str] = {}


def tracking_number(serial: int, parcel: int) -> str:
    """12 digits, as FedEx Express and Ground numbers are."""
    return f"77{serial:09d}{parcel}"


def tracking_url(number: str) -> str:
    return f"https://www.fedex.com/fedextrack/?trknbr={number}"


def build(scene: Scene, index: int) -> Post:
    step = track_step(scene, index, NAME)
    number = scene.parcels[step.parcel].tracking_number
    code, derived, by_locale, description, reason = SCANS[step.status]
    latest = {
        "code": code,
        "derivedCode": derived,
        "statusByLocale": by_locale,
        "description": description,
        "scanLocation": _location(step.status),
    }
    if reason:
        latest["ancillaryDetails"] = [{"reason": reason[0], "reasonDescription": reason[1]}]
    scans = scene.scans(step.parcel, step.at)
    result = {
        "trackingNumberInfo": {
            "trackingNumber": number,
            "trackingNumberUniqueId": f"12026~{number}~FDEG",
            "carrierCode": "FDXG",
        },
        "latestStatusDetail": latest,
        "dateAndTimes": _dates(scene, step),
        "scanEvents": [_scan(scan, at) for scan, at in reversed(scans)],
    }
    push = {
        "transactionId": scene.uuid(index, "transaction"),
        "output": {"completeTrackResults": [{"trackingNumber": number, "trackResults": [result]}]},
    }
    body = compact(push)
    headers = {
        "Content-Type": "application/json",
        "fdx-signature": signature(body, scene.secret(NAME)),
    }
    return post(NAME, "tracking_event", headers, body)


def signature(body: bytes, secret: str) -> str:
    """`fdx-signature`: keyed by the webhook project's security token ("SHA256(security token
    + payload) = Base 64 encoded fdx-signature", and FedEx's Java sample)."""
    return base64_hmac(secret, body)


def sign(body: bytes, secret: str) -> dict[str, str]:
    return {"fdx-signature": signature(body, secret)}


def _dates(scene: Scene, step: Track) -> list[dict]:
    if step.status is ShipmentStatus.DELIVERED:
        return [{"type": "ACTUAL_DELIVERY", "dateTime": local(scene.time(step)).isoformat()}]
    day = datetime.combine(scene.estimate(step.parcel), time.min, SHOP_ZONE)
    return [{"type": "ESTIMATED_DELIVERY", "dateTime": day.isoformat()}]


def _scan(scan: Track, at: datetime) -> dict:
    code, derived, by_locale, description, reason = SCANS[scan.status]
    return {
        "date": local(at).isoformat(),
        "eventType": code,
        "eventDescription": description,
        "exceptionCode": reason[0] if reason else "",
        "exceptionDescription": reason[1] if reason else "",
        "scanLocation": _location(scan.status),
        "derivedStatusCode": derived,
        "derivedStatus": by_locale,
    }


def _location(status: ShipmentStatus) -> dict:
    place = SCAN_TEXT[status][1]
    return {
        "city": place.city.upper(),
        "stateOrProvinceCode": place.state,
        "postalCode": place.zip,
        "countryCode": place.country,
    }
