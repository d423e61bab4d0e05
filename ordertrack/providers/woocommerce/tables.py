"""WooCommerce's name, its status table and the texts docs/providers.md shows, as data."""

from ordertrack.statuses import OrderStatus

NAME = "woocommerce"
KIND = "platform"

SETUP = """\
In WordPress, **WooCommerce > Settings > Advanced > Webhooks > Add webhook**, one webhook per
topic (Order created, Order updated, Order deleted, Order restored): Status *Active*, Delivery
URL `https://<host>/webhooks/woocommerce`, Secret the value of `WEBHOOK_SECRET_WOOCOMMERCE`,
API version *WP REST API Integration v3*. Saving sends an unsigned ping that ordertrack answers
200. Tracking numbers come from the WooCommerce Shipment Tracking plugin, when it is installed.
"""

VERIFIED = (
    "`X-WC-Webhook-Signature`, the base64 HMAC-SHA256 of the raw body keyed by the webhook"
    " secret with its HTML entities decoded as WordPress does; WooCommerce signs no time, so"
    " there is no replay window to check."
)

#: Order `status`, the REST form (no `wc-` prefix) of Automattic\WooCommerce\Enums\OrderStatus.
#: An order status a plugin adds (`shipped`, `delivered`, `partial-shipped`, ...) is not here on
#: purpose: its OrderFact carries no status and keeps the code as `unknown_status`.
ORDER_STATUSES: dict[str, OrderStatus | None] = {
    "pending": OrderStatus.RECEIVED,  # placed, awaiting payment
    "processing": OrderStatus.PROCESSING,  # paid, awaiting fulfilment
    "on-hold": OrderStatus.ON_HOLD,  # awaiting payment confirmation, or held by the merchant
    "completed": OrderStatus.COMPLETED,
    "cancelled": OrderStatus.CANCELLED,
    "refunded": OrderStatus.REFUNDED,
    # The payment failed or was declined: nothing ships until the customer pays again or the
    # merchant steps in. That is an order on hold, not a cancelled one.
    "failed": OrderStatus.ON_HOLD,
    # Moved to the bin in the admin: for the customer the order is off.
    "trash": OrderStatus.CANCELLED,
    # Not placed orders (a block checkout in progress, an admin draft): no order is created.
    "checkout-draft": None,
    "draft": None,
    "auto-draft": None,
}
NOT_PLACED = frozenset(code for code, status in ORDER_STATUSES.items() if status is None)

#: What docs/providers.md lists, generated from these very tables.
TABLES = {"Order `status`": ORDER_STATUSES}

#: Real WooCommerce topics ordertrack does not use (WC_Webhook::get_default_topic_hooks):
#: answered 200 and kept as ignored, so WooCommerce does not count them as failures.
IGNORED_TOPICS = frozenset(
    f"{resource}.{event}"
    for resource, events in {
        "coupon": ("created", "updated", "deleted", "restored"),
        "customer": ("created", "updated", "deleted"),
        "product": ("created", "updated", "deleted", "restored", "published"),
    }.items()
    for event in events
)
