"""Matching a carrier report to a parcel: which shipment a tracking event is about.

A carrier names a parcel only by its tracking number, and carriers recycle numbers, so a number
alone is not enough: a report claims a parcel only inside the number's life here (from a
little before the platform's label to months after). `store.orders` asks the same question of
rows (`best_claim` takes anything `Labelled`), so the database and the rules agree.
"""

from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from ordertrack.facts import FulfillmentFact, ShipmentRef, TrackingFact, carriers_differ
from ordertrack.lifecycle.state import NEVER, OrderState

#: Carriers recycle tracking numbers once a parcel is long gone (months, for UPS and USPS).
#: A carrier event this long after a shipment was fulfilled is some later parcel's.
TRACKING_NUMBER_REUSE = timedelta(days=120)

#: A carrier may scan a label before the platform hears of the fulfillment (the label is
#: bought first); an event from longer before than this is an earlier parcel's.
LABEL_LEAD = timedelta(days=30)


class Labelled(Protocol):
    """A shipment as state or as a row: what deciding whose parcel an event is needs."""

    tracking_number: str | None
    carrier: str | None
    labelled_at: datetime | None
    fulfilled_at: datetime | None
    cancelled: bool
    removed: bool


L = TypeVar("L", bound=Labelled)


def _since(shipment: Labelled) -> datetime | None:
    return shipment.labelled_at or shipment.fulfilled_at


def claims(shipment: Labelled, ref: ShipmentRef, occurred_at: datetime) -> bool:
    """Whether a carrier event naming `ref` at `occurred_at` is about this shipment: the same
    number, not plainly another carrier's, and a time within the number's life here."""
    if not ref.tracking_number or shipment.tracking_number != ref.tracking_number:
        return False
    if carriers_differ(shipment.carrier, ref.carrier):
        return False
    since = _since(shipment)
    return since is None or since - LABEL_LEAD <= occurred_at <= since + TRACKING_NUMBER_REUSE


def best_claim(shipments: list[L], ref: ShipmentRef, occurred_at: datetime) -> L | None:
    """Of the shipments that claim an event, a live one before one the platform cancelled or
    removed; then the one labelled most recently before the event, or failing that, the first
    labelled after it."""
    claimants = [s for s in shipments if claims(s, ref, occurred_at)]
    live = [s for s in claimants if not (s.cancelled or s.removed)]
    claimants = live or claimants
    before = [s for s in claimants if not _since(s) or _since(s) <= occurred_at]
    if before:
        return max(before, key=lambda s: _since(s) or NEVER)
    return min(claimants, key=lambda s: _since(s) or NEVER, default=None)


def shipment_key(state: OrderState, fact: FulfillmentFact | TrackingFact) -> str | None:
    """Platform shipments are keyed by their fulfillment id; a carrier event finds its shipment
    by carrier and tracking number, and None means no fulfillment has named them yet."""
    if isinstance(fact, FulfillmentFact):
        return f"f:{fact.fulfillment_id}"
    ref = fact.shipment
    if ref.fulfillment_id:
        return f"f:{ref.fulfillment_id}"
    found = best_claim(list(state.shipments), ref, fact.occurred_at)
    return found.key if found else None
