"""AfterShip's name, its status tables and the texts docs/providers.md shows, as data."""

from ordertrack.providers.base import status_lookup
from ordertrack.statuses import ShipmentStatus

NAME = "aftership"
KIND = "carrier"

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
