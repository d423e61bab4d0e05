"""Shopify: orders, fulfillments and fulfillment events from the Admin webhooks.

Reference: shopify.dev/docs/api/webhooks (REST payloads, API 2026-07). The body is the REST
resource; the topic and the delivery id travel in headers. Signed with a base64 HMAC-SHA256 of
the raw body, keyed by the app's client secret (or the admin notification key).
"""

from datetime import datetime
from typing import Any

from marshmallow import fields

from ordertrack.errors import MissingFields
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
from ordertrack.providers.base import (
    Credentials,
    Delivery,
    Envelope,
    FlexibleDateTime,
    Lenient,
    LocalDate,
    classify_topic,
    edge_schema,
    load,
    status_lookup,
)
from ordertrack.providers.spec import Docs, Provider
from ordertrack.signatures import base64_digests, verify_any
from ordertrack.statuses import OrderStatus, ShipmentStatus

NAME = "shopify"
KIND = "platform"
SIGNATURE_HEADER = "X-Shopify-Hmac-Sha256"

SETUP = """\
Subscribe each handled topic to `https://<your host>/webhooks/shopify` in JSON, either from
your app (Admin API `webhookSubscriptionCreate`, or `shopify.app.toml`) or in the admin under
Settings > Notifications > Webhooks. Set `WEBHOOK_SECRET_SHOPIFY` to the app's client secret
(API secret key), or to the key the Notifications page shows for webhooks made there.
"""
VERIFIED = (
    "`X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the raw body; the delivery id is "
    "`X-Shopify-Webhook-Id`."
)

#: Fulfillment `shipment_status` and FulfillmentEvent `status` (REST forms of the GraphQL
#: FulfillmentEventStatus enum).
SHIPMENT_STATUSES = status_lookup(
    {
        ShipmentStatus.LABEL_CREATED: ("label_printed", "label_purchased", "confirmed"),
        ShipmentStatus.IN_TRANSIT: ("carrier_picked_up", "in_transit"),
        ShipmentStatus.OUT_FOR_DELIVERY: ("out_for_delivery",),
        ShipmentStatus.DELIVERY_FAILED: ("attempted_delivery",),
        ShipmentStatus.AVAILABLE_FOR_PICKUP: ("ready_for_pickup",),
        ShipmentStatus.DELIVERED: ("delivered", "picked_up"),
        # `delayed` is a carrier exception that may still arrive; `failure` means it won't.
        ShipmentStatus.EXCEPTION: ("delayed", "failure"),
    }
)

#: Order `financial_status`; None leaves the order where it is (a partial refund is not a
#: status a customer's order moves to).
FINANCIAL_STATUSES: dict[str, OrderStatus | None] = {
    "pending": OrderStatus.RECEIVED,
    "authorized": OrderStatus.PROCESSING,
    "partially_paid": OrderStatus.PROCESSING,
    "paid": OrderStatus.PROCESSING,
    "partially_refunded": None,
    "refunded": OrderStatus.REFUNDED,
    # The payment fell through: the merchant has to act before anything ships.
    "voided": OrderStatus.ON_HOLD,
    "expired": OrderStatus.ON_HOLD,
}


class _SmsConsent(Lenient):
    state = fields.String(allow_none=True)


class _Customer(Lenient):
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    sms_marketing_consent = fields.Nested(_SmsConsent, allow_none=True)


class _Address(Lenient):
    phone = fields.String(allow_none=True)
    zip = fields.String(allow_none=True)
    country_code = fields.String(allow_none=True)
    province_code = fields.String(allow_none=True)


class _LineItem(Lenient):
    id = fields.Integer(required=True)
    title = fields.String(load_default="")
    quantity = fields.Integer(load_default=1)


class _Fulfillment(Lenient):
    id = fields.Integer(required=True)
    order_id = fields.Integer(required=True)
    status = fields.String(allow_none=True)
    shipment_status = fields.String(allow_none=True)
    tracking_company = fields.String(allow_none=True)
    tracking_number = fields.String(allow_none=True)
    tracking_url = fields.String(allow_none=True)
    created_at = FlexibleDateTime(required=True)
    updated_at = FlexibleDateTime(allow_none=True)
    line_items = fields.List(fields.Nested(_LineItem), load_default=list)


class _Order(Lenient):
    id = fields.Integer(required=True)
    name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    customer = fields.Nested(_Customer, allow_none=True)
    customer_locale = fields.String(allow_none=True)
    shipping_address = fields.Nested(_Address, allow_none=True)
    financial_status = fields.String(allow_none=True)
    cancelled_at = FlexibleDateTime(allow_none=True)
    created_at = FlexibleDateTime(required=True)
    updated_at = FlexibleDateTime(allow_none=True)
    line_items = fields.List(fields.Nested(_LineItem), load_default=list)
    fulfillments = fields.List(fields.Nested(_Fulfillment), load_default=list)


class _FulfillmentEvent(Lenient):
    id = fields.Integer(required=True)
    fulfillment_id = fields.Integer(required=True)
    order_id = fields.Integer(required=True)
    status = fields.String(required=True)
    message = fields.String(allow_none=True)
    happened_at = FlexibleDateTime(required=True)
    estimated_delivery_at = LocalDate(allow_none=True)


class _RefundLineItem(Lenient):
    line_item_id = fields.Integer(required=True)
    quantity = fields.Integer(load_default=1)


class _Refund(Lenient):
    id = fields.Integer(required=True)
    order_id = fields.Integer(required=True)
    created_at = FlexibleDateTime(required=True)
    processed_at = FlexibleDateTime(allow_none=True)
    refund_line_items = fields.List(fields.Nested(_RefundLineItem), load_default=list)


HANDLED_TOPICS = {
    "orders/create": _Order(),
    "orders/updated": _Order(),
    "orders/paid": _Order(),
    "orders/cancelled": _Order(),
    "orders/fulfilled": _Order(),
    "orders/partially_fulfilled": _Order(),
    "fulfillments/create": _Fulfillment(),
    "fulfillments/update": _Fulfillment(),
    "fulfillment_events/create": _FulfillmentEvent(),
    # A refund of some items (a return, most often), which financial_status alone cannot say.
    "refunds/create": _Refund(),
}

EDGE_SCHEMAS = {topic: edge_schema(schema) for topic, schema in HANDLED_TOPICS.items()}

#: What docs/providers.md lists, generated from these very tables.
TABLES = {
    "Fulfillment `shipment_status` and FulfillmentEvent `status`": SHIPMENT_STATUSES,
    "Order `financial_status`": FINANCIAL_STATUSES,
}

#: Real Shopify topics ordertrack does not use: answered 200 and kept as ignored.
IGNORED_TOPICS = frozenset(
    f"{resource}/{action}"
    for resource, actions in {
        "app": ("uninstalled",),
        "carts": ("create", "update"),
        "checkouts": ("create", "update", "delete"),
        "collections": ("create", "update", "delete"),
        "customers": ("create", "update", "delete", "enable", "disable"),
        "draft_orders": ("create", "update", "delete"),
        "fulfillment_events": ("delete",),
        "fulfillment_orders": ("cancelled", "fulfillment_request_submitted", "hold_released"),
        "inventory_items": ("create", "update", "delete"),
        "inventory_levels": ("connect", "update", "disconnect"),
        "locations": ("create", "update", "delete"),
        "orders": ("delete", "edited", "risk_assessment_changed"),
        "order_transactions": ("create",),
        "products": ("create", "update", "delete"),
        "shop": ("update",),
        "themes": ("create", "publish", "update", "delete"),
    }.items()
    for action in actions
)


def verify(delivery: Delivery, credentials: Credentials) -> None:
    expected = base64_digests((s.encode() for s in credentials.secrets), delivery.body)
    verify_any(delivery.headers.get(SIGNATURE_HEADER), expected)


def envelope(delivery: Delivery, payload: Any) -> Envelope:
    topic = delivery.headers.get("X-Shopify-Topic")
    handled = classify_topic(topic, HANDLED_TOPICS, IGNORED_TOPICS, NAME)
    webhook_id = delivery.headers.get("X-Shopify-Webhook-Id")
    if not webhook_id:
        raise MissingFields("X-Shopify-Webhook-Id header is missing")
    if handled:
        load(EDGE_SCHEMAS[topic], payload, topic)
    return Envelope(topic=topic, dedupe_key=webhook_id, handled=handled)


def normalize(topic: str, payload: Any, received_at: datetime) -> list[Fact]:
    data = load(HANDLED_TOPICS[topic], payload, topic)
    if topic.startswith("orders/"):
        return _order_facts(topic, data)
    if topic.startswith("fulfillments/"):
        return _fulfillment_facts(data)
    if topic == "refunds/create":
        return [_refund_fact(data)]
    return [_event_fact(data)]


def _order_facts(topic: str, order: dict) -> list[Fact]:
    facts: list[Fact] = [_order_fact(topic, order)]
    for fulfillment in order["fulfillments"]:
        facts.extend(_fulfillment_facts(fulfillment))
    return facts


def _order_fact(topic: str, order: dict) -> OrderFact:
    customer = order.get("customer") or {}
    name = " ".join(filter(None, (customer.get("first_name"), customer.get("last_name"))))
    financial = order.get("financial_status") or "pending"
    status = FINANCIAL_STATUSES.get(financial)
    occurred_at: datetime = order.get("updated_at") or order["created_at"]
    if order.get("cancelled_at") or topic == "orders/cancelled":
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


def _event_fact(event: dict) -> TrackingFact:
    return TrackingFact(
        shipment=_ref(event["order_id"], event["fulfillment_id"]),
        status=SHIPMENT_STATUSES.get(event["status"], ShipmentStatus.UNKNOWN),
        occurred_at=event["happened_at"],
        raw_status=event["status"],
        message=event.get("message"),
        est_delivery=event.get("estimated_delivery_at"),
    )


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


#: The provider contract (docs/adding-a-provider.md).
DOCS = Docs(__doc__, SETUP, VERIFIED, HANDLED_TOPICS, IGNORED_TOPICS, TABLES)
PROVIDER = Provider(NAME, KIND, verify, envelope, normalize, DOCS)
