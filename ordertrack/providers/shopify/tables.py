"""Shopify's name, its status tables and the texts docs/providers.md shows, as data."""

from ordertrack.providers.base import status_lookup
from ordertrack.statuses import OrderStatus, ShipmentStatus

NAME = "shopify"
KIND = "platform"

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
