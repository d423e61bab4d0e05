"""Shippo, as its `track_updated` webhooks send (docs.goshippo.com: tracking, webhooks and
webhook security): `{"event", "test", "data"}` with `data` the Track object, its latest
`tracking_status` and the `tracking_history` so far (oldest first). Shippo proves itself by
the token chosen in the webhook URL (`?token=`, from WEBHOOK_TOKEN_SHIPPO) and, where Shippo
has enabled signing for the account (WEBHOOK_SECRET_SHIPPO), by `Shippo-Auth-Signature:
t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`; `t` is the moment of sending, so the
request is built just before it is posted. The parcels are USPS's (carrier token `usps`)."""

import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from ordertrack.statuses import ShipmentStatus
from simulate.sources import (
    DESTINATION,
    ORIGIN,
    SCAN_TEXT,
    Post,
    Scene,
    SimulationError,
    compact,
    hmac_sha256,
    post,
    track_step,
    usps_tracking_url,
    utc,
)
from simulate.stories import Track

NAME = "shippo"
CARRIER = "USPS"
SHIPPO_CARRIER = "usps"  # Shippo names carriers by token

#: Track `tracking_status.status` and its `substatus` (code, text, action_required).
SCANS: dict[ShipmentStatus, tuple[str, str, str, bool]] = {
    ShipmentStatus.LABEL_CREATED: (
        "PRE_TRANSIT",
        "information_received",
        "Information about the package received.",
        False,
    ),
    ShipmentStatus.IN_TRANSIT: (
        "TRANSIT",
        "package_arrived",
        "Package has arrived at a carrier facility.",
        False,
    ),
    # Out for delivery and attempts are TRANSIT to Shippo: the substatus says which.
    ShipmentStatus.OUT_FOR_DELIVERY: (
        "TRANSIT",
        "out_for_delivery",
        "Package is out for delivery.",
        False,
    ),
    ShipmentStatus.DELIVERY_FAILED: (
        "TRANSIT",
        "delivery_attempted",
        "Delivery of package has been attempted. Contact carrier to ensure delivery.",
        True,
    ),
    ShipmentStatus.DELIVERED: ("DELIVERED", "delivered", "Package has been delivered.", False),
    ShipmentStatus.RETURNED: (
        "RETURNED",
        "return_to_sender",
        "Package is being returned to sender.",
        False,
    ),
}
UNSUPPORTED: dict[ShipmentStatus, str] = {}


def tracking_number(serial: int, parcel: int) -> str:
    return f"9205590164{serial:09d}{parcel:02d}3"


def tracking_url(number: str) -> str:
    return usps_tracking_url(number)


def build(scene: Scene, index: int) -> Post:
    step = track_step(scene, index, NAME)
    scans = scene.scans(step.parcel, step.at)
    history = [_status(scene, scan, at) for scan, at in scans]
    eta = f"{scene.estimate(step.parcel)}T00:00:00Z"
    event = {
        "event": "track_updated",
        "test": True,
        "data": {
            "messages": [],
            "carrier": SHIPPO_CARRIER,
            "tracking_number": scene.parcels[step.parcel].tracking_number,
            "address_from": _place(ORIGIN),
            "address_to": _place(DESTINATION),
            "eta": eta,
            "original_eta": eta,
            "servicelevel": {"token": "usps_priority", "name": "Priority Mail"},
            "metadata": f"Order #{scene.serial}",
            "tracking_status": history[-1],
            "tracking_history": history,
            "transaction": None,
        },
    }
    body = compact(event)
    headers, query = {"Content-Type": "application/json"}, {}
    token, secrets = scene.token(NAME), scene.secrets(NAME)
    if not token and not secrets:
        raise SimulationError(
            "set WEBHOOK_TOKEN_SHIPPO and/or WEBHOOK_SECRET_SHIPPO as the service has"
        )
    if token:
        query["token"] = token
    if secrets:
        headers |= sign(body, secrets[0])
    return post(NAME, event["event"], headers, body, query)


def signature(body: bytes, signed_at: int, secrets: Sequence[str]) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, one `v1=` per secret, as
    Stripe-style senders do while a secret rotates."""
    signed = f"{signed_at}.".encode() + body
    digests = [hmac_sha256(secret.encode(), signed).hex() for secret in secrets]
    return ",".join([f"t={signed_at}", *(f"v1={digest}" for digest in digests)])


def sign(body: bytes, secret: str) -> dict[str, str]:
    """Signed now: `t` is the moment of sending, so sign just before posting."""
    return {"Shippo-Auth-Signature": signature(body, int(time.time()), (secret,))}


def _status(scene: Scene, scan: Track, at: datetime) -> dict:
    status, code, text, action_required = SCANS[scan.status]
    message, place = SCAN_TEXT[scan.status]
    recorded = utc(at + timedelta(minutes=4, seconds=12), millis=True)
    return {
        "object_created": recorded,
        "object_updated": recorded,
        # One id per scan, the same in every later history: Shippo's record of that scan.
        "object_id": scene.digest(scene.story.steps.index(scan), "status"),
        "status": status,
        "status_details": message,
        "status_date": utc(at),
        "substatus": {"code": code, "text": text, "action_required": action_required},
        "location": _place(place),
    }


def _place(place) -> dict:
    return {"city": place.city, "state": place.state, "zip": place.zip, "country": place.country}
