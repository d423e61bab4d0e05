"""Shippo's name, its status tables and the texts docs/providers.md shows, as data."""

from ordertrack.providers.base import status_lookup
from ordertrack.statuses import ShipmentStatus

NAME = "shippo"
KIND = "carrier"

SETUP = """\
In the Shippo API portal, **Webhooks → Add webhook**: event type **Track Updated**, the
environment you ship in, URL `https://<your host>/webhooks/shippo?token=<a long random value>`
(under 200 characters), and set the same value in `WEBHOOK_TOKEN_SHIPPO`. If Shippo has
enabled signed webhooks for your account (ask your account manager), put its HMAC secret in
`WEBHOOK_SECRET_SHIPPO`; with both set, both are checked. Labels bought through Shippo are
tracked by themselves; register others with `POST /tracks` (carrier, tracking_number,
metadata)."""

VERIFIED = (
    "the `?token=` query parameter against WEBHOOK_TOKEN_SHIPPO (constant time), and/or"
    " `Shippo-Auth-Signature: t=<unix>,v1=<hex>` (HMAC-SHA256 of `<t>.<raw body>`, any `v1`)"
    " with `t` within WEBHOOK_TOLERANCE_SECONDS (default 300) of now, past or future, else"
    " refused as a replay; both when both are set. A signature header of more than 6 entries"
    " (`t` and a signature per secret being rotated) is refused unread. Shippo sends no event"
    " id: the delivery id is the tracking number and the status record's `object_id`."
)

#: Track `tracking_status.status`, all 6 documented values (Track object).
STATUSES = status_lookup(
    {
        ShipmentStatus.LABEL_CREATED: ("PRE_TRANSIT",),
        # Out for delivery, attempts and delays are all TRANSIT: the substatus says which.
        ShipmentStatus.IN_TRANSIT: ("TRANSIT",),
        ShipmentStatus.DELIVERED: ("DELIVERED",),
        ShipmentStatus.RETURNED: ("RETURNED",),
        # Failed for good: lost, damaged, undeliverable, disposed of.
        ShipmentStatus.EXCEPTION: ("FAILURE",),
        # Nothing from the carrier yet, or nothing Shippo recognised: kept, never applied.
        ShipmentStatus.UNKNOWN: ("UNKNOWN",),
    }
)

#: `tracking_status.substatus.code`, all 27 documented codes (Tracking "event definitions").
#: Shippo does not say which status each code comes under, so a code refines TRANSIT only
#: (REFINED); the other statuses are definite. None means the status decides.
SUBSTATUSES: dict[str, ShipmentStatus | None] = {
    "information_received": None,  # the carrier has the label data: PRE_TRANSIT says so
    "package_accepted": None,
    "package_arrived": None,
    "package_departed": None,
    "package_processing": None,
    "package_processed": None,
    "package_forwarded": None,  # sent on to another address or carrier, still moving
    "delivery_scheduled": None,
    "delivery_rescheduled": None,  # a new date, still on its way
    "out_for_delivery": ShipmentStatus.OUT_FOR_DELIVERY,
    "delivery_attempted": ShipmentStatus.DELIVERY_FAILED,
    "notice_left": ShipmentStatus.DELIVERY_FAILED,  # the attempt's card in the mailbox
    # The driver could not reach the door (gate, no access): an attempt that failed.
    "location_inaccessible": ShipmentStatus.DELIVERY_FAILED,
    # "Contact carrier to reschedule delivery": the customer must act after a failed attempt.
    "reschedule_delivery": ShipmentStatus.DELIVERY_FAILED,
    "pickup_available": ShipmentStatus.AVAILABLE_FOR_PICKUP,
    "delayed": ShipmentStatus.EXCEPTION,
    # The address needs fixing before the parcel can arrive: the customer's attention.
    "address_issue": ShipmentStatus.EXCEPTION,
    "contact_carrier": ShipmentStatus.EXCEPTION,  # the carrier asks to be called
    # "Held at carrier location, contact carrier": a customs or problem hold, not the pickup
    # counter (that is pickup_available). Attention, not a guess at collection.
    "package_held": ShipmentStatus.EXCEPTION,
    "package_damaged": ShipmentStatus.EXCEPTION,
    "package_lost": ShipmentStatus.EXCEPTION,
    "package_undeliverable": ShipmentStatus.EXCEPTION,
    "package_disposed": ShipmentStatus.EXCEPTION,
    "package_unclaimed": ShipmentStatus.EXCEPTION,  # nobody collected it: it goes back soon
    "return_to_sender": ShipmentStatus.RETURNED,
    "delivered": None,
    "other": None,  # "unrecognized carrier status": the status is all there is
}

#: The one status broad enough for its substatus to decide.
REFINED = "TRANSIT"

#: What docs/providers.md lists, generated from these very tables.
TABLES = {
    "Track `tracking_status.status`": STATUSES,
    "`tracking_status.substatus.code`, under TRANSIT only": SUBSTATUSES,
}

#: Real Shippo webhook events ordertrack does not use: answered 200, kept as ignored.
IGNORED_TOPICS = frozenset(
    {"transaction_created", "transaction_updated", "batch_created", "batch_purchased"}
)
