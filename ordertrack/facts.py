"""The small typed records every provider emits. Normalizers turn payloads into these;
the lifecycle only ever sees these, never a provider's JSON."""

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from ordertrack.statuses import OrderStatus, ShipmentStatus


@dataclass(frozen=True)
class Customer:
    email: str | None = None
    phone: str | None = None
    name: str | None = None
    #: Whether the customer agreed to texts, as the platform reports it (None: it does not).
    sms_consent: bool | None = None
    #: The language the customer shopped in ("en-US"), for the messages' language.
    locale: str | None = None
    #: Where the parcel goes, for the customer's time zone (quiet hours for texts).
    country_code: str | None = None
    province_code: str | None = None
    #: The shipping postcode: what a customer may give to look their order up.
    postcode: str | None = None


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
    #: The platform's status code when no table knows it: kept and counted, never applied.
    unknown_status: str | None = None
    #: Every fulfillment id the order has, when the payload lists them all (None: it does not
    #: say). One missing that was there before has been removed.
    fulfillment_ids: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ShipmentRef:
    """How an event names its shipment: carriers by tracking number, platforms by their own
    fulfillment id (Shopify's fulfillment events carry no tracking number)."""

    tracking_number: str | None = None
    #: The carrier as the source names it; compared through `carrier_code()`.
    carrier: str | None = None
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
    #: None: a known report that says nothing of where the parcel is (a new delivery estimate);
    #: kept in the history, its estimate used, its status never applied.
    status: ShipmentStatus | None
    occurred_at: datetime
    raw_status: str
    detail: str | None = None
    message: str | None = None
    carrier: str | None = None
    est_delivery: date | None = None


@dataclass(frozen=True)
class RefundFact:
    """The platform refunded (part of) an order: the order's returns on their way to a refund
    end there. It moves no order status (a partial refund is not a status)."""

    platform: str
    order_id: str
    occurred_at: datetime
    items: tuple[LineItem, ...] = ()


Fact = OrderFact | FulfillmentFact | TrackingFact | RefundFact


def normalize_tracking_number(value: str) -> str:
    """Carriers print tracking numbers with spaces and mixed case; the lookup key has neither."""
    return "".join(value.split()).upper()


#: One code per carrier, whatever the source calls it: Shopify's "UPS", AfterShip's "ups",
#: a merchant's "United Parcel Service", EasyPost's "FedEx", Shippo's "dhl_express".
CARRIER_ALIASES = {
    "unitedparcelservice": "ups",
    "unitedstatespostalservice": "usps",
    "uspostalservice": "usps",
    "federalexpress": "fedex",
    "fedexground": "fedex",
    "fedexexpress": "fedex",
    "fedexhomedelivery": "fedex",
    "dhlexpress": "dhl",
    "dhlexpressus": "dhl",
}


def carrier_code(name: str | None) -> str | None:
    """'United Parcel Service', 'UPS' and 'ups' are one carrier: lower case, letters and
    digits only, then the alias table. None when the source did not say."""
    if not name:
        return None
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    return CARRIER_ALIASES.get(key, key) or None


#: Carriers whose names every source spells recognisably: two of these that differ are two
#: carriers. Any other name ("DHL US", "Other", a regional courier) may be another spelling
#: of the same one, so it never keeps a report from its parcel.
KNOWN_CARRIERS = frozenset({"ups", "usps", "fedex", "dhl", *CARRIER_ALIASES.values()})


def carriers_differ(one: str | None, other: str | None) -> bool:
    """True only when both names are known carriers, and not the same one."""
    a, b = carrier_code(one), carrier_code(other)
    return a in KNOWN_CARRIERS and b in KNOWN_CARRIERS and a != b
