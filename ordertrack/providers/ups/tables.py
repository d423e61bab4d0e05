"""UPS's name, its status tables and the texts docs/providers.md shows, as data."""

from ordertrack.providers.base import status_lookup
from ordertrack.statuses import ShipmentStatus

NAME = "ups"
KIND = "carrier"
CARRIER = "UPS"

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

#: The body names no event type: every Track Alert push is one package scan.
TOPIC = "track_alert"
#: Track Alert pushes nothing but tracking events.
IGNORED_TOPICS: frozenset[str] = frozenset()
