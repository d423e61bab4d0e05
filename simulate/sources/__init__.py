"""One request builder per source: `build(scene, index)` turns step `index` of the scene's
story into the HTTP request that source sends, signed as its documentation says, with the
secrets the service reads (WEBHOOK_SECRET_<SOURCE>, WEBHOOK_TOKEN_<SOURCE>).

The builders are written from the providers' documentation, not from ordertrack's provider
modules, so a simulation checks the receiver rather than agreeing with it. Each source's
`sign(body, secret)` gives the headers that prove a body is the source's: the one signer, which
the tests' requests (tests/support/sources/) use too. Platforms also give
their order id (`order_id(serial)`); carriers the name a shop gives them (`CARRIER`), their
tracking numbers and URLs, and the statuses they have no way to say (`UNSUPPORTED`).
"""

import base64
import hashlib
import hmac
import importlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from types import ModuleType
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ordertrack.settings import Settings
from ordertrack.statuses import ShipmentStatus
from simulate.stories import Fulfill, Pay, Step, Story, Track

#: BigCommerce is left out: its webhooks only name the order, and the worker then reads the
#: order from BigCommerce's REST API, which a simulation cannot stand in for.
PLATFORMS = ("shopify", "woocommerce")
CARRIERS = ("easypost", "aftership", "shippo", "ups", "fedex")

try:  # the shop, the customer and the last scans are in New York
    SHOP_ZONE: timezone | ZoneInfo = ZoneInfo("America/New_York")
except ZoneInfoNotFoundError:  # a system without tz data: standard time all year
    SHOP_ZONE = timezone(timedelta(hours=-5), "EST")


@dataclass(frozen=True)
class Place:
    city: str
    state: str
    zip: str
    country: str = "US"


ORIGIN = Place("Secaucus", "NJ", "07094")
HUB = Place("Kearny", "NJ", "07032")
DESTINATION = Place("New York", "NY", "10001")

#: What a scan of each status says and where it happens, whichever carrier reports it (the
#: carriers' own codes are in each builder).
SCAN_TEXT: dict[ShipmentStatus, tuple[str, Place]] = {
    ShipmentStatus.LABEL_CREATED: ("Shipping Label Created, Awaiting Item", ORIGIN),
    ShipmentStatus.IN_TRANSIT: ("Arrived at Regional Facility", HUB),
    ShipmentStatus.OUT_FOR_DELIVERY: ("Out for Delivery", DESTINATION),
    ShipmentStatus.DELIVERY_FAILED: (
        "Delivery Attempted - No Access to Delivery Location",
        DESTINATION,
    ),
    ShipmentStatus.DELIVERED: ("Delivered, In/At Mailbox", DESTINATION),
    ShipmentStatus.RETURNED: ("Returned to Sender", ORIGIN),
}


class SimulationError(Exception):
    """The simulation cannot sign or post as asked (a secret is missing, say)."""


def builder(name: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{name}")


@dataclass(frozen=True)
class Post:
    """One delivery as its source sends it: where, which headers, which exact bytes."""

    source: str
    #: The topic or event name as the source writes it, for the progress line.
    topic: str
    path: str
    headers: dict[str, str]
    body: bytes


def post(source: str, topic: str, headers: dict[str, str], body: bytes, query=None) -> Post:
    suffix = f"?{urlencode(query)}" if query else ""
    return Post(source, topic, f"/webhooks/{source}{suffix}", headers, body)


@dataclass(frozen=True)
class Parcel:
    number: int
    tracking_number: str
    #: The carrier as the shop writes it on the fulfillment ("USPS", "UPS", "FedEx").
    carrier: str
    tracking_url: str
    #: Line numbers (1-based) of the order's items in this parcel.
    items: tuple[int, ...]


@dataclass(frozen=True)
class Scene:
    """One story played for one fresh order: its ids, its clock and the secrets to sign with.
    Every builder derives what it sends from this and the step alone, so building a step
    twice gives the same bytes (a duplicate is a duplicate)."""

    story: Story
    #: Unique per run and story; every id and tracking number is made from it.
    serial: int
    #: When the story's step offsets count from (aware UTC).
    started: datetime
    parcels: dict[int, Parcel]
    settings: Settings

    def time(self, step: Step) -> datetime:
        return self.started + step.at

    def digest(self, index: int, kind: str = "") -> str:
        """32 hex digits that name step `index` of this scene, stable across builds."""
        seed = f"{self.serial}:{self.story.name}:{index}:{kind}".encode()
        return hashlib.sha256(seed).hexdigest()[:32]

    def uuid(self, index: int, kind: str = "") -> str:
        return str(uuid.UUID(self.digest(index, kind), version=4))

    def paid_at(self, until: timedelta) -> datetime | None:
        paid = [s for s in self.story.steps if isinstance(s, Pay) and s.at <= until]
        return self.time(paid[-1]) if paid else None

    def fulfilled(self, until: timedelta) -> list[tuple[Parcel, datetime]]:
        """The parcels the shop knows of at `until`, with when each was recorded."""
        steps = [s for s in self.story.steps if isinstance(s, Fulfill) and s.at <= until]
        return [(self.parcels[s.parcel], self.time(s)) for s in steps]

    def scans(self, parcel: int, until: timedelta) -> list[tuple[Track, datetime]]:
        """The carrier's scans of `parcel` up to `until`, oldest first."""
        steps = [
            s
            for s in self.story.steps
            if isinstance(s, Track) and s.parcel == parcel and s.at <= until
        ]
        return [(s, self.time(s)) for s in steps]

    def estimate(self, parcel: int) -> date:
        """The day the parcel is due: the day of its last scan in the story, as carriers
        estimate it from the label on (shop-local)."""
        last = [s for s in self.story.steps if isinstance(s, Track) and s.parcel == parcel]
        return local(self.time(last[-1])).date()

    def secret(self, source: str) -> str:
        """The first WEBHOOK_SECRET_<SOURCE> value: the one a sender signs with today."""
        secrets = self.settings.credentials_for(source).secrets
        if not secrets:
            raise SimulationError(
                f"set WEBHOOK_SECRET_{source.upper()} to the value the service has, "
                f"so the {source} deliveries can be signed"
            )
        return secrets[0]

    def secrets(self, source: str) -> tuple[str, ...]:
        return self.settings.credentials_for(source).secrets

    def token(self, source: str) -> str | None:
        tokens = self.settings.credentials_for(source).tokens
        return tokens[0] if tokens else None


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def base64_hmac(secret: str, body: bytes) -> str:
    """The base64 HMAC-SHA256 of the raw body keyed by the secret's UTF-8 bytes, the scheme
    Shopify, AfterShip and FedEx sign with."""
    return base64.b64encode(hmac_sha256(secret.encode("utf-8"), body)).decode("ascii")


def compact(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def utc(moment: datetime, millis: bool = False) -> str:
    """`2026-11-02T14:05:00Z` (or `...00.000Z`), as the carriers' APIs write UTC."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{moment.microsecond // 1000:03d}Z" if millis else f"{text}Z"


def local(moment: datetime) -> datetime:
    return moment.astimezone(SHOP_ZONE)


def usps_tracking_url(number: str) -> str:
    """Where the aggregators that ship with USPS in these stories link a parcel."""
    return f"https://tools.usps.com/go/TrackConfirmAction?tLabels={number}"


def track_step(scene: "Scene", index: int, source: str) -> Track:
    """The step a carrier reports; a carrier has nothing to say about any other kind."""
    step = scene.story.steps[index]
    if not isinstance(step, Track):
        raise TypeError(f"{source} does not report {type(step).__name__}")
    return step
