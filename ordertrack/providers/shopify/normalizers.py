"""Shopify's payloads as facts: one small function per topic, chosen through NORMALIZERS."""

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from ordertrack.facts import (
    Customer,
    Fact,
    FulfillmentFact,
    LineItem,
    OrderFact,
    RefundFact,
    ShipmentRef,
    TrackingFact,
    normalize_tracking_number,
)
from ordertrack.providers.base import load
from ordertrack.providers.shopify.schemas import HANDLED_TOPICS
from ordertrack.providers.shopify.tables import FINANCIAL_STATUSES, NAME, SHIPMENT_STATUSES
from ordertrack.statuses import OrderStatus, ShipmentStatus


def normalize(topic: str, payload: Any, received_at: datetime) -> list[Fact]:
    return NORMALIZERS[topic](load(HANDLED_TOPICS[topic], payload, topic))


def _order_facts(order: dict, *, cancelled: bool = False) -> list[Fact]:
    facts: list[Fact] = [_order_fact(order, cancelled)]
    for fulfillment in order["fulfillments"]:
        facts.extend(_fulfillment_facts(fulfillment))
    return facts


def _order_fact(order: dict, cancelled: bool) -> OrderFact:
    customer = order.get("customer") or {}
    name = " ".join(filter(None, (customer.get("first_name"), customer.get("last_name"))))
    financial = order.get("financial_status") or "pending"
    status = FINANCIAL_STATUSES.get(financial)
    occurred_at: datetime = order.get("updated_at") or order["created_at"]
    if order.get("cancelled_at") or cancelled:
        status, occurred_at = OrderStatus.CANCELLED, order.get("cancelled_at") or occurred_at
    return OrderFact(
        platform=NAME,
        order_id=str(order["id"]),
        occurred_at=occurred_at,
        status=status,
        name=order.get("name"),
        customer=_customer(order, customer, name),
        items=_items(order),
        # Only a status that was not applied counts as unknown; a cancellation was.
        unknown_status=None if financial in FINANCIAL_STATUSES or status else financial,
    )


def _customer(order: dict, customer: dict, name: str) -> Customer:
    address = order.get("shipping_address") or {}
    consent = (customer.get("sms_marketing_consent") or {}).get("state")
    return Customer(
        email=order.get("email") or customer.get("email"),
        phone=order.get("phone") or customer.get("phone") or address.get("phone"),
        name=name or None,
        # Shopify reports SMS consent per customer: "subscribed" is a yes, any other state
        # (not_subscribed, unsubscribed, redacted, pending) a no; no record says nothing.
        sms_consent=None if consent is None else consent == "subscribed",
        locale=order.get("customer_locale"),
        country_code=address.get("country_code"),
        province_code=address.get("province_code"),
        postcode=address.get("zip") or None,
    )


def _fulfillment_facts(fulfillment: dict) -> list[Fact]:
    tracking = fulfillment.get("tracking_number")
    facts: list[Fact] = [
        FulfillmentFact(
            platform=NAME,
            order_id=str(fulfillment["order_id"]),
            fulfillment_id=str(fulfillment["id"]),
            # A corrected tracking number arrives as an update: it must be the newer report.
            occurred_at=fulfillment.get("updated_at") or fulfillment["created_at"],
            carrier=fulfillment.get("tracking_company"),
            tracking_number=normalize_tracking_number(tracking) if tracking else None,
            tracking_url=fulfillment.get("tracking_url"),
            cancelled=fulfillment.get("status") in ("cancelled", "error", "failure"),
            items=_items(fulfillment),
        )
    ]
    shipment_status = fulfillment.get("shipment_status")
    if shipment_status:
        facts.append(
            TrackingFact(
                shipment=_ref(fulfillment["order_id"], fulfillment["id"]),
                status=SHIPMENT_STATUSES.get(shipment_status, ShipmentStatus.UNKNOWN),
                occurred_at=fulfillment.get("updated_at") or fulfillment["created_at"],
                raw_status=shipment_status,
                carrier=fulfillment.get("tracking_company"),
            )
        )
    return facts


def _event_facts(event: dict) -> list[Fact]:
    return [_event_fact(event)]


def _event_fact(event: dict) -> TrackingFact:
    return TrackingFact(
        shipment=_ref(event["order_id"], event["fulfillment_id"]),
        status=SHIPMENT_STATUSES.get(event["status"], ShipmentStatus.UNKNOWN),
        occurred_at=event["happened_at"],
        raw_status=event["status"],
        message=event.get("message"),
        est_delivery=event.get("estimated_delivery_at"),
    )


def _refund_facts(refund: dict) -> list[Fact]:
    return [_refund_fact(refund)]


def _refund_fact(refund: dict) -> RefundFact:
    return RefundFact(
        platform=NAME,
        order_id=str(refund["order_id"]),
        occurred_at=refund.get("processed_at") or refund["created_at"],
        items=tuple(
            LineItem(str(i["line_item_id"]), "", i["quantity"]) for i in refund["refund_line_items"]
        ),
    )


def _items(resource: dict) -> tuple[LineItem, ...]:
    return tuple(LineItem(str(i["id"]), i["title"], i["quantity"]) for i in resource["line_items"])


def _ref(order_id: int, fulfillment_id: int) -> ShipmentRef:
    return ShipmentRef(platform=NAME, order_id=str(order_id), fulfillment_id=str(fulfillment_id))


#: Every handled topic's normalizer: an order (with its fulfillments so far), a fulfillment,
#: a fulfillment event or a refund.
NORMALIZERS: dict[str, Callable[[dict], list[Fact]]] = {
    "orders/create": _order_facts,
    "orders/updated": _order_facts,
    "orders/paid": _order_facts,
    "orders/cancelled": partial(_order_facts, cancelled=True),
    "orders/fulfilled": _order_facts,
    "orders/partially_fulfilled": _order_facts,
    "fulfillments/create": _fulfillment_facts,
    "fulfillments/update": _fulfillment_facts,
    "fulfillment_events/create": _event_facts,
    "refunds/create": _refund_facts,
}
