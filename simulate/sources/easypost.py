"""EasyPost, as its webhooks send (docs.easypost.com/docs/events, the Tracker object; signing
per EasyPost/easypost-python `validate_webhook`): the body is an Event whose `result` is the
whole Tracker, every scan so far in `tracking_details` (oldest first); `X-Hmac-Signature` is
`hmac-sha256-hex=` + the hex HMAC-SHA256 of the raw body, keyed by the webhook secret after
Unicode NFKD normalization. The parcels are USPS's, as most EasyPost trackers are."""

import unicodedata
from datetime import timedelta

from ordertrack.statuses import ShipmentStatus
from simulate.sources import (
    SCAN_TEXT,
    Post,
    Scene,
    compact,
    hmac_sha256,
    post,
    track_step,
    usps_tracking_url,
    utc,
)
from simulate.stories import Track

NAME = "easypost"
CARRIER = "USPS"

#: Tracker `status` and `status_detail` for each status a story tells.
SCANS: dict[ShipmentStatus, tuple[str, str]] = {
    ShipmentStatus.LABEL_CREATED: ("pre_transit", "label_created"),
    ShipmentStatus.IN_TRANSIT: ("in_transit", "arrived_at_facility"),
    ShipmentStatus.OUT_FOR_DELIVERY: ("out_for_delivery", "out_for_delivery"),
    # EasyPost has no attempted-delivery status: an attempt that will be retried stays
    # in_transit, its message saying what happened ("Failed deliveries, second attempts").
    ShipmentStatus.DELIVERY_FAILED: ("in_transit", "delivery_exception"),
    ShipmentStatus.DELIVERED: ("delivered", "arrived_at_destination"),
    ShipmentStatus.RETURNED: ("return_to_sender", "return"),
}
UNSUPPORTED: dict[ShipmentStatus, str] = {}


def tracking_number(serial: int, parcel: int) -> str:
    """22 digits, as USPS's IMpb numbers are (no check digit computed: nobody checks it)."""
    return f"9400111899{serial:09d}{parcel:02d}1"


def tracking_url(number: str) -> str:
    return usps_tracking_url(number)


def build(scene: Scene, index: int) -> Post:
    step = track_step(scene, index, NAME)
    scans = scene.scans(step.parcel, step.at)
    previous = SCANS[scans[-2][0].status][0] if len(scans) > 1 else None
    noticed = utc(scene.time(step) + timedelta(seconds=64), millis=True)
    event = {
        "description": "tracker.updated" if previous else "tracker.created",
        "mode": "test",
        "previous_attributes": {"status": previous} if previous else {},
        "created_at": noticed,
        "pending_urls": [],
        "completed_urls": [],
        "updated_at": noticed,
        "id": f"evt_{scene.digest(index, 'event')}",
        "user_id": "user_3f5ed1298f6ef57d47604234563f2939",
        "status": "pending",
        "object": "Event",
        "result": _tracker(scene, step, scans),
    }
    body = compact(event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "EasyPost WebHook Agent 1.0",
        "X-Hmac-Signature": signature(body, scene.secret(NAME)),
    }
    return post(NAME, event["description"], headers, body)


def signature(body: bytes, secret: str) -> str:
    """`X-Hmac-Signature`: `hmac-sha256-hex=` + the hex HMAC-SHA256 of the raw body, keyed by
    the NFKD-normalized webhook secret."""
    key = unicodedata.normalize("NFKD", secret).encode("utf-8")
    return "hmac-sha256-hex=" + hmac_sha256(key, body).hex()


def sign(body: bytes, secret: str) -> dict[str, str]:
    return {"X-Hmac-Signature": signature(body, secret)}


def _tracker(scene: Scene, step: Track, scans: list) -> dict:
    status, detail = SCANS[step.status]
    number = scene.parcels[step.parcel].tracking_number
    return {
        "id": f"trk_{scene.digest(step.parcel, 'tracker')}",
        "object": "Tracker",
        "mode": "test",
        "tracking_code": number,
        "status": status,
        "status_detail": detail,
        "created_at": utc(scans[0][1]),
        "updated_at": utc(scene.time(step) + timedelta(seconds=63)),
        "signed_by": None,
        "weight": 12.0,
        "est_delivery_date": f"{scene.estimate(step.parcel)}T00:00:00Z",
        "shipment_id": None,
        "carrier": CARRIER,
        "tracking_details": [_detail(scan, at) for scan, at in scans],
        "finalized": step.status in (ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED),
        "is_return": step.status is ShipmentStatus.RETURNED,
        "public_url": f"https://track.easypost.com/{number}",
    }


def _detail(scan: Track, at) -> dict:
    status, detail = SCANS[scan.status]
    message, place = SCAN_TEXT[scan.status]
    return {
        "object": "TrackingDetail",
        "message": message,
        "description": message,
        "status": status,
        "status_detail": detail,
        "datetime": utc(at),
        "source": CARRIER,
        "tracking_location": {
            "object": "TrackingLocation",
            "city": place.city.upper(),
            "state": place.state,
            "country": place.country,
            "zip": place.zip,
        },
    }
