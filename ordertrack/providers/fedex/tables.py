"""FedEx's name, its status table and the texts docs/providers.md shows, as data."""

from ordertrack.providers.base import status_lookup
from ordertrack.statuses import ShipmentStatus

NAME = "fedex"
KIND = "carrier"
CARRIER = "FedEx"
#: The body names no event type: every push is the tracking result of one or more packages.
TOPIC = "tracking_event"
#: FedEx's webhook pushes nothing but tracking results.
IGNORED_TOPICS: frozenset[str] = frozenset()

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
