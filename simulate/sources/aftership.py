"""AfterShip Tracking, as its webhooks send (aftership.com/docs/tracking, webhook
specifications and signature, version 2025-07): `{event, event_id, is_tracking_first_tag, msg,
ts}` with `msg` the Tracking object and its checkpoints so far (oldest first, local times
with their offset); `aftership-hmac-sha256` is the base64 HMAC-SHA256 of the raw body keyed by
the webhook secret's UTF-8 bytes. The parcels are USPS's (slug `usps`)."""

from datetime import datetime, timedelta

from ordertrack.statuses import ShipmentStatus
from simulate.sources import (
    SCAN_TEXT,
    Post,
    Scene,
    base64_hmac,
    compact,
    local,
    post,
    track_step,
    usps_tracking_url,
    utc,
)
from simulate.stories import Track

NAME = "aftership"
CARRIER = "USPS"
SLUG = "usps"
WEBHOOK_VERSION = "2025-07"

#: Tracking `tag`, `subtag` and `subtag_message` for each status a story tells.
SCANS: dict[ShipmentStatus, tuple[str, str, str]] = {
    ShipmentStatus.LABEL_CREATED: ("InfoReceived", "InfoReceived_001", "Info Received"),
    ShipmentStatus.IN_TRANSIT: ("InTransit", "InTransit_003", "Arrival scan"),
    ShipmentStatus.OUT_FOR_DELIVERY: ("OutForDelivery", "OutForDelivery_001", "Out for Delivery"),
    ShipmentStatus.DELIVERY_FAILED: ("AttemptFail", "AttemptFail_001", "Failed Attempt"),
    ShipmentStatus.DELIVERED: ("Delivered", "Delivered_001", "Delivered"),
    # A return is an Exception to AfterShip; the subtag says it is back with the sender.
    ShipmentStatus.RETURNED: ("Exception", "Exception_011", "Returned to sender"),
}
UNSUPPORTED: dict[ShipmentStatus, str] = {}


def tracking_number(serial: int, parcel: int) -> str:
    return f"9400111899{serial:09d}{parcel:02d}2"


def tracking_url(number: str) -> str:
    return usps_tracking_url(number)


def build(scene: Scene, index: int) -> Post:
    step = track_step(scene, index, NAME)
    scans = scene.scans(step.parcel, step.at)
    tag = SCANS[step.status][0]
    earlier_tags = [SCANS[scan.status][0] for scan, _ in scans[:-1]]
    noticed = scene.time(step) + timedelta(minutes=4)
    event = {
        "event_id": scene.uuid(index, "event"),
        "event": "tracking_update",
        "is_tracking_first_tag": tag not in earlier_tags,
        "msg": _tracking(scene, step, scans, noticed),
        "ts": int(noticed.timestamp()),
    }
    body = compact(event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "AfterShipTrackingWebhook/4.0.0 (https://www.aftership.com)",
        "aftership-hmac-sha256": signature(body, scene.secret(NAME)),
        "as-webhook-version": WEBHOOK_VERSION,
    }
    return post(NAME, event["event"], headers, body)


def signature(body: bytes, secret: str) -> str:
    """`aftership-hmac-sha256`: keyed by the webhook secret as UTF-8 (no prefix, no decoding)."""
    return base64_hmac(secret, body)


def sign(body: bytes, secret: str) -> dict[str, str]:
    return {"aftership-hmac-sha256": signature(body, secret)}


def _tracking(scene: Scene, step: Track, scans: list, noticed: datetime) -> dict:
    tag, subtag, message = SCANS[step.status]
    number = scene.parcels[step.parcel].tracking_number
    delivered = step.status is ShipmentStatus.DELIVERED
    return {
        "id": scene.digest(step.parcel, "tracking"),
        "created_at": utc(scans[0][1]),
        "updated_at": utc(noticed),
        "tracking_number": number,
        "slug": SLUG,
        "active": step.status not in (ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED),
        "tag": tag,
        "subtag": subtag,
        "subtag_message": message,
        "title": f"#{scene.serial}",
        "order_number": f"#{scene.serial}",
        "shipment_delivery_date": local(scene.time(step)).isoformat() if delivered else None,
        "return_to_sender": step.status is ShipmentStatus.RETURNED,
        "courier_tracking_link": tracking_url(number),
        "latest_estimated_delivery": {
            "type": "specific",
            "source": "Carrier EDD",
            "datetime": scene.estimate(step.parcel).isoformat(),
            "datetime_min": None,
            "datetime_max": None,
            "revise_reason": None,
        },
        "checkpoints": [_checkpoint(scan, at) for scan, at in scans],
    }


def _checkpoint(scan: Track, at: datetime) -> dict:
    tag, subtag, subtag_message = SCANS[scan.status]
    message, place = SCAN_TEXT[scan.status]
    return {
        "created_at": utc(at + timedelta(minutes=4)),
        "slug": SLUG,
        "checkpoint_time": local(at).isoformat(),
        "location": f"{place.city.upper()}, {place.state} {place.zip}",
        "city": place.city.upper(),
        "state": place.state,
        "zip": place.zip,
        "country_region": "USA",
        "message": message,
        "tag": tag,
        "subtag": subtag,
        "subtag_message": subtag_message,
        "source": "carrier",
    }
