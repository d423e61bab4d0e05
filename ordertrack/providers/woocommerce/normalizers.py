"""WooCommerce's orders as facts: one small function per topic, chosen through NORMALIZERS."""

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

from marshmallow import ValidationError

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
from ordertrack.providers.woocommerce.schemas import HANDLED_TOPICS, TRACKING_ITEMS
from ordertrack.providers.woocommerce.tables import NAME, NOT_PLACED, ORDER_STATUSES
from ordertrack.statuses import OrderStatus

#: Where the WooCommerce Shipment Tracking plugin keeps an order's parcels.
TRACKING_META_KEY = "_wc_shipment_tracking_items"


def normalize(topic: str, payload: Any, received_at: datetime) -> list[Fact]:
    return NORMALIZERS[topic](load(HANDLED_TOPICS[topic], payload, topic), received_at)


def _order_facts(data: dict, received_at: datetime, *, restored: bool = False) -> list[Fact]:
    """The order as it stands, with every parcel its tracking items list."""
    if data["status"] in NOT_PLACED:
        return []
    # `_gmt` times carry no offset but are UTC; the others are the shop's wall clock.
    occurred_at: datetime = data.get("date_modified_gmt") or data["date_created_gmt"]
    if restored:
        # A deletion is dated when we heard of it (its body has no time), so the restore that
        # undoes it must be at least as late, or a delivery delay would leave it cancelled.
        # WooCommerce never retries, so hearing order is the order things happened in.
        occurred_at = max(occurred_at, received_at)
    parcels = _fulfillment_facts(data, occurred_at)
    # The plugin cannot edit a tracking item, only delete it and add another: the order's
    # list is complete, so a parcel missing from it was removed.
    listed = tuple(parcel.fulfillment_id for parcel in parcels)
    return [replace(_order_fact(data, occurred_at), fulfillment_ids=listed), *parcels]


def _deleted_facts(data: dict, received_at: datetime) -> list[Fact]:
    return [_deleted(data, received_at)]


def _deleted(data: dict, received_at: datetime) -> OrderFact:
    """WooCommerce sends order.deleted when the order goes to the bin (order.restored when it
    comes back). The body says nothing but the id, and no time: when we heard is all we know."""
    return OrderFact(
        platform=NAME,
        order_id=str(data["id"]),
        occurred_at=received_at,
        status=OrderStatus.CANCELLED,
        detail="deleted",
    )


def _order_fact(order: dict, occurred_at: datetime) -> OrderFact:
    billing = order.get("billing") or {}
    name = " ".join(filter(None, (billing.get("first_name"), billing.get("last_name"))))
    return OrderFact(
        platform=NAME,
        order_id=str(order["id"]),
        occurred_at=occurred_at,
        status=ORDER_STATUSES.get(order["status"]),
        name=f"#{order.get('number') or order['id']}",
        customer=Customer(
            email=billing.get("email") or None,
            phone=billing.get("phone") or (order.get("shipping") or {}).get("phone") or None,
            name=name or None,
            # WooCommerce core records no consent to texts and no shopper language.
            country_code=(order.get("shipping") or {}).get("country") or None,
            province_code=(order.get("shipping") or {}).get("state") or None,
            postcode=(order.get("shipping") or {}).get("postcode") or None,
        ),
        items=tuple(LineItem(str(i["id"]), i["name"], i["quantity"]) for i in order["line_items"]),
        unknown_status=None if order["status"] in ORDER_STATUSES else order["status"],
    )


def _fulfillment_facts(order: dict, occurred_at: datetime) -> list[FulfillmentFact]:
    return [
        FulfillmentFact(
            platform=NAME,
            order_id=str(order["id"]),
            # The plugin's tracking_id is an md5 made when the number was added, and never
            # changes; a number with no id (another plugin wrote it) is its own id.
            fulfillment_id=item.get("tracking_id") or normalize_tracking_number(number),
            # The order's last change: a corrected number arrives in a later update.
            occurred_at=occurred_at,
            # A custom provider is what the merchant typed; the plugin shows it over the list's.
            carrier=item.get("custom_tracking_provider") or item.get("tracking_provider") or None,
            tracking_number=normalize_tracking_number(number),
            tracking_url=item.get("custom_tracking_link") or None,
        )
        for item in _tracking_items(order)
        if (number := item["tracking_number"]).strip()
    ]


def _tracking_items(order: dict) -> list[dict]:
    value = next((m["value"] for m in order["meta_data"] if m["key"] == TRACKING_META_KEY), None)
    if not value:
        return []
    if isinstance(value, dict):  # a PHP array with gaps in its keys is a JSON object
        value = list(value.values())
    try:
        return TRACKING_ITEMS.load(value)
    except ValidationError as exc:
        raise MissingFields(
            f"order meta {TRACKING_META_KEY} is not a list of tracking items",
            {"meta_data": exc.messages},
        ) from None


NORMALIZERS: dict[str, Callable[[dict, datetime], list[Fact]]] = {
    "order.created": _order_facts,
    "order.updated": _order_facts,
    "order.restored": partial(_order_facts, restored=True),
    "order.deleted": _deleted_facts,
}
