"""The small typed records every provider emits. Normalizers turn payloads into these;
the lifecycle only ever sees these, never a provider's JSON."""

from dataclasses import dataclass, field
from datetime import date, datetime

from ordertrack.statuses import OrderStatus, ShipmentStatus


@dataclass(frozen=True)
class Customer:
    email: str | None = None
    phone: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class LineItem:
    external_id: str
    title: str
    quantity: int


@dataclass(frozen=True)
class OrderFact:
    """The platform says what the order is (and, when `status` is set, where it stands)."""

    platform: str
    order_id: str
    occurred_at: datetime
    status: OrderStatus | None = None
    name: str | None = None
    customer: Customer = field(default_factory=Customer)
    items: tuple[LineItem, ...] = ()
    detail: str | None = None


@dataclass(frozen=True)
class ShipmentRef:
    """How an event names its shipment: carriers by tracking number, platforms by their own
    fulfillment id (Shopify's fulfillment events carry no tracking number)."""

    tracking_number: str | None = None
    platform: str | None = None
    order_id: str | None = None
    fulfillment_id: str | None = None


@dataclass(frozen=True)
class FulfillmentFact:
    """The platform says this order ships (part of) its items in a parcel with this tracking."""

    platform: str
    order_id: str
    fulfillment_id: str
    occurred_at: datetime
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    cancelled: bool = False
    #: The order's line items in this parcel, when the platform says.
    items: tuple[LineItem, ...] = ()


@dataclass(frozen=True)
class TrackingFact:
    """Somebody (carrier, aggregator or platform) reports where a parcel is."""

    shipment: ShipmentRef
    status: ShipmentStatus
    occurred_at: datetime
    raw_status: str
    detail: str | None = None
    message: str | None = None
    carrier: str | None = None
    est_delivery: date | None = None


Fact = OrderFact | FulfillmentFact | TrackingFact


def normalize_tracking_number(value: str) -> str:
    """Carriers print tracking numbers with spaces and mixed case; the lookup key has neither."""
    return "".join(value.split()).upper()
