"""What BigCommerce's API said, as facts: one small function per scope, through NORMALIZERS."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ordertrack.errors import MissingFields
from ordertrack.facts import (
    Customer,
    Fact,
    FulfillmentFact,
    LineItem,
    OrderFact,
    normalize_tracking_number,
)
from ordertrack.providers.base import load
from ordertrack.providers.bigcommerce.schemas import FETCHED
from ordertrack.providers.bigcommerce.tables import (
    INCOMPLETE,
    NAME,
    ORDER_STATUSES,
    SHIPMENT_DELETED,
    SHIPPING_PROVIDERS,
)


def normalize(topic: str, payload: Any, received_at: datetime) -> list[Fact]:
    """Pure: `payload` is what fetch() returned. Every fact carries a time of its own."""
    return NORMALIZERS[topic](load(FETCHED[topic], payload, topic), topic)


def _fetched_facts(fetched: dict, topic: str) -> list[Fact]:
    """The order as the API said it is, with its shipments (one, for a shipment's scope)."""
    order = fetched["order"]
    if order is None:
        raise MissingFields(f"{topic}: the fetched order is missing")
    if order["status_id"] == INCOMPLETE:
        return []
    titles = {product["id"]: product["name"] for product in fetched["products"]}
    facts: list[Fact] = [_order_fact(order, fetched["products"])]
    facts += [_fulfillment_fact(s, titles, fetched["event"]) for s in fetched["shipments"]]
    return facts


def _deleted_facts(fetched: dict, topic: str) -> list[Fact]:
    return [_deleted(fetched["event"])]


def _order_fact(order: dict, products: list[dict]) -> OrderFact:
    code = str(order["status_id"])
    known = code in ORDER_STATUSES
    return OrderFact(
        platform=NAME,
        order_id=str(order["id"]),
        # date_modified is the order's own version: a later fetch of the same order is newer.
        occurred_at=order.get("date_modified") or order["date_created"],
        status=ORDER_STATUSES[code] if known else None,
        name=f"#{order['id']}",
        customer=_customer(order.get("billing_address") or {}),
        items=tuple(LineItem(str(p["id"]), p["name"], p["quantity"]) for p in products),
        unknown_status=None if known else f"{code} ({order.get('status') or '?'})",
    )


def _customer(billing: dict) -> Customer:
    name = " ".join(filter(None, (billing.get("first_name"), billing.get("last_name"))))
    return Customer(
        email=billing.get("email") or None,  # V2 writes "" for "not given"
        phone=billing.get("phone") or None,
        name=name or None,
        # V2 orders carry no consent to texts or shopper language; the state is a full name.
        country_code=billing.get("country_iso2") or None,
        postcode=billing.get("zip") or None,
    )


def _fulfillment_fact(shipment: dict, titles: dict[int, str], event: dict) -> FulfillmentFact:
    tracking = normalize_tracking_number(shipment.get("tracking_number") or "")
    return FulfillmentFact(
        platform=NAME,
        order_id=str(shipment["order_id"]),
        fulfillment_id=str(shipment["id"]),
        # A shipment has no modified date: an update (tracking number replaced) is only newer
        # than the creation by the callback's own time.
        occurred_at=max(shipment["date_created"], _event_time(event)),
        carrier=_carrier(shipment),
        tracking_number=tracking or None,
        # A custom link is the merchant's choice; the generated one is empty when it is set.
        tracking_url=shipment.get("tracking_link")
        or shipment.get("generated_tracking_link")
        or None,
        items=tuple(_parcel_item(item, titles) for item in shipment["items"]),
    )


def _parcel_item(item: dict, titles: dict[int, str]) -> LineItem:
    """Named by the order product id, as the order's own line items are, so the lifecycle can
    tell which ordered items no parcel carries."""
    order_product_id = item["order_product_id"]
    return LineItem(str(order_product_id), titles.get(order_product_id, ""), item["quantity"])


def _carrier(shipment: dict) -> str | None:
    """`tracking_carrier` is an AfterShip courier slug when set; otherwise the shipping
    provider says the carrier only when it is one (not ShipperHQ or a third-party app)."""
    if shipment.get("tracking_carrier"):
        return shipment["tracking_carrier"]
    return SHIPPING_PROVIDERS.get(shipment.get("shipping_provider") or "")


def _deleted(event: dict) -> FulfillmentFact:
    data = event["data"]
    return FulfillmentFact(
        platform=NAME,
        order_id=str(data["orderId"]),
        fulfillment_id=str(data["id"]),
        occurred_at=_event_time(event),
        cancelled=True,
    )


def _event_time(event: dict) -> datetime:
    try:
        return datetime.fromtimestamp(event["created_at"], UTC)
    except (OverflowError, OSError, ValueError):
        raise MissingFields("created_at is not a usable unix time") from None


#: Every handled scope's normalizer: an order (with its shipments), or a deleted shipment.
NORMALIZERS: dict[str, Callable[[dict, str], list[Fact]]] = {
    "store/order/created": _fetched_facts,
    "store/order/updated": _fetched_facts,
    "store/order/statusUpdated": _fetched_facts,
    "store/shipment/created": _fetched_facts,
    "store/shipment/updated": _fetched_facts,
    SHIPMENT_DELETED: _deleted_facts,
}
