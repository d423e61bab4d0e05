"""A parcel's tracking number replaced by the platform: the new number wins outright.

Platforms correct a typo'd number or swap a label; what the old number reported may be another
parcel's, so the parcel's carrier news starts again, and the customer must hear the new number.
"""

from dataclasses import replace

from ordertrack.facts import FulfillmentFact
from ordertrack.lifecycle.state import OrderState, ShipmentState
from ordertrack.statuses import ShipmentStatus


def replaces_tracking_number(shipment: ShipmentState, fact: FulfillmentFact) -> bool:
    """The report names a number, and not the one the parcel has."""
    return bool(
        shipment.tracking_number
        and fact.tracking_number
        and fact.tracking_number != shipment.tracking_number
    )


def relabelled(shipment: ShipmentState) -> ShipmentState:
    """The parcel has a new tracking number: what the old one reported is not this parcel's
    news any more (a typo'd number may even be somebody else's parcel), so the carrier status
    starts again from the label. The old reports stay in the history."""
    return replace(
        shipment,
        carrier=None,
        reported_carrier=None,
        labelled_at=None,
        tracking_url=None,
        status=ShipmentStatus.LABEL_CREATED,
        status_at=None,
        raw_status=None,
        detail=None,
        est_delivery=None,
        est_delivery_at=None,
        failed_attempts=(),
        furthest_stage=0,
        relabels=shipment.relabels + 1,
    )


def replaced_tracking_numbers(before: OrderState, after: OrderState) -> list[str]:
    """The new numbers of shipments whose tracking number was replaced: the customer must
    hear of them, or they will watch a number that no longer moves. A platform that cannot
    edit a number (WooCommerce's Shipment Tracking) removes the parcel and adds another in
    one update: that is a replacement too."""
    replaced, added, dropped = [], [], False
    for shipment in after.shipments:
        old = before.shipment(shipment.key)
        if old is None:
            added += (
                [shipment.tracking_number] if shipment.live and shipment.tracking_number else []
            )
        elif old.tracking_number and shipment.tracking_number != old.tracking_number:
            replaced.append(shipment.tracking_number)
        elif old.live and old.tracking_number and not shipment.live:
            dropped = True
    return replaced + (added if dropped else [])
