"""UPS Track Alert (v1), as UPSTrackAlert.yaml's `TrackingEvent` webhook sends: one scan per
push, `trackingNumber` and `activityStatus{type, code, description, descriptionCode}` with its
GMT and local date and time; no event id and no signature. UPS sends back the subscription's
`destination.credential` (WEBHOOK_SECRET_UPS) in the `credential` header."""

from datetime import datetime

from ordertrack.statuses import ShipmentStatus
from simulate.sources import SCAN_TEXT, Post, Scene, compact, local, post
from simulate.stories import Track

NAME = "ups"
CARRIER = "UPS"

#: Activity status `type`, `code`, `description` and `descriptionCode` per story status: the
#: codes of UPS's own examples (UPSTrackAlert.yaml, Tracking.yaml).
SCANS: dict[ShipmentStatus, tuple[str, str, str, str]] = {
    ShipmentStatus.LABEL_CREATED: ("M", "MP", "Shipment Ready for UPS", "003"),
    ShipmentStatus.IN_TRANSIT: ("I", "OR", "On the Way", "005"),
    ShipmentStatus.OUT_FOR_DELIVERY: ("I", "OT", "Out for Delivery", "021"),
    # A failed attempt is an exception scan to UPS (type X): "may still be delivered on time".
    ShipmentStatus.DELIVERY_FAILED: (
        "X",
        "DA",
        "The receiver was not available for delivery. We'll make a second attempt the next"
        " business day.",
        "",
    ),
    ShipmentStatus.DELIVERED: ("D", "FS", "Delivered", "011"),
}
UNSUPPORTED = {
    ShipmentStatus.RETURNED: "UPS Track Alert documents no return-to-sender code",
}


def tracking_number(serial: int, parcel: int) -> str:
    """`1Z`, a 6-character shipper number, then 10 digits: 18 characters, as UPS's are."""
    return f"1Z5338FF{serial:09d}{parcel}"


def tracking_url(number: str) -> str:
    return f"https://www.ups.com/track?loc=en_US&tracknum={number}"


def build(scene: Scene, index: int) -> Post:
    step = scene.story.steps[index]
    if not isinstance(step, Track) or step.status in UNSUPPORTED:
        raise TypeError(f"{NAME} does not report {step}")
    kind, code, description, description_code = SCANS[step.status]
    at, place = scene.time(step), SCAN_TEXT[step.status][1]
    delivered = step.status is ShipmentStatus.DELIVERED
    event = {
        "activityLocation": {
            "city": place.city,
            "country": place.country,
            # "blank until delivery"
            "postalCode": place.zip if delivered else "",
            "stateProvince": place.state,
        },
        "activityStatus": {
            "code": code,
            "description": description,
            "descriptionCode": description_code,
            "type": kind,
        },
        "actualDeliveryDate": _date(local(at)) if delivered else "",
        "actualDeliveryTime": _time(local(at)) if delivered else "",
        "deliveryEndTime": "",
        "deliveryPhoto": "",
        "deliveryStartTime": "",
        "deliveryTimeDescription": "" if kind == "M" else "end of day",
        "gmtActivityDate": _date(at),
        "gmtActivityTime": _time(at),
        "gmtOffset": _offset(local(at)),
        "localActivityDate": _date(local(at)),
        "localActivityTime": _time(local(at)),
        "scheduledDeliveryDate": scene.estimate(step.parcel).strftime("%Y%m%d"),
        "trackingNumber": scene.parcels[step.parcel].tracking_number,
    }
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "UPSPubSubTrackingService",
        **sign(b"", scene.secret(NAME)),
    }
    return post(NAME, "track_alert", headers, compact(event))


def sign(body: bytes, secret: str) -> dict[str, str]:
    """UPS signs nothing: it sends back the subscription's `destination.credential` as the
    `credential` header, whatever the body."""
    return {"credential": secret}


def _date(moment: datetime) -> str:
    return moment.strftime("%Y%m%d")


def _time(moment: datetime) -> str:
    return moment.strftime("%H%M%S")


def _offset(moment: datetime) -> str:
    """`-05.00`, as Track Alert writes it: (-/+)HH.MM."""
    minutes = int(moment.utcoffset().total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}.{abs(minutes) % 60:02d}"
