"""BigCommerce's codes as data: order status ids, shipping providers, and the scopes ordertrack
answers but does not use. Sources: Orders V2 OpenAPI (`GET /order_statuses` descriptions,
`shipping_provider_standard` enum) and the Webhook Events reference (bigcommerce/docs)."""

from ordertrack.statuses import OrderStatus

NAME = "bigcommerce"
KIND = "platform"
#: The one scope with nothing to fetch: the shipment is gone.
SHIPMENT_DELETED = "store/shipment/deleted"

#: An abandoned checkout ("the shopper reached the payment page but did not complete the
#: transaction"). store/order/created fires for these too: they yield no facts at all.
INCOMPLETE = 0

#: Order `status_id`, every system status (ids 0-14). The store can relabel them
#: (`custom_label`), never renumber them. None leaves the order's status where it is.
ORDER_STATUSES: dict[str, OrderStatus | None] = {
    "0": None,  # Incomplete: never reaches the lifecycle (INCOMPLETE above)
    "1": OrderStatus.RECEIVED,  # Pending: checkout started, not completed
    "2": OrderStatus.SHIPPED,  # Shipped: the merchant used Ship Items for everything
    # Partially Shipped: some items left. The shipments fetched with the order say which, so
    # the lifecycle's "items not shipped" tells the rest; SHIPPED is what a parcel on its way
    # means when none of the carrier's news is in yet.
    "3": OrderStatus.SHIPPED,
    "4": OrderStatus.REFUNDED,  # Refunded
    "5": OrderStatus.CANCELLED,  # Cancelled by the seller
    # Declined: the seller marked it declined for lack of payment; nothing will ship.
    "6": OrderStatus.CANCELLED,
    "7": OrderStatus.RECEIVED,  # Awaiting Payment: checkout done, payment not confirmed
    # Awaiting Pickup: pulled and waiting at a seller-specified location for the customer
    # (buy online, pick up in store). That is what "available for pickup" tells a customer.
    "8": OrderStatus.AVAILABLE_FOR_PICKUP,
    "9": OrderStatus.PROCESSING,  # Awaiting Shipment: packed, waiting for the carrier
    "10": OrderStatus.COMPLETED,  # Completed
    "11": OrderStatus.PROCESSING,  # Awaiting Fulfillment: paid, to be picked and packed
    # Manual Verification Required: on hold until someone checks the order.
    "12": OrderStatus.ON_HOLD,
    # Disputed: the customer opened a PayPal dispute; nothing moves until it is settled.
    "13": OrderStatus.ON_HOLD,
    # Partially Refunded: money went back, the order itself goes on (or has arrived).
    "14": None,
}

#: Shipment `shipping_provider` (the documented enum) -> the carrier, as an AfterShip courier
#: slug like `tracking_carrier`. ShipperHQ (a rating service), `carrier_<id>` (a third-party
#: shipping app) and "" name no carrier, so they give none rather than a guess.
SHIPPING_PROVIDERS: dict[str, str] = {
    "auspost": "australia-post",
    "canadapost": "canada-post",
    "endicia": "usps",  # Endicia prints USPS labels
    "fedex": "fedex",
    "royalmail": "royal-mail",
    "ups": "ups",
    "upsonline": "ups",
    "upsready": "ups",
    "usps": "usps",
}


def _scopes(prefix: str, *actions: str) -> set[str]:
    return {f"store/{prefix}/{action}" for action in actions}


_CRUD = ("created", "updated", "deleted")

#: Real scopes ordertrack does not use: answered 200 and kept as ignored, so a wildcard hook
#: (`store/order/*`) never gets a 4xx and deactivated. Channel-specific scopes
#: (`store/channel/{id}/...`) carry the channel id and are not listed.
IGNORED_TOPICS = frozenset(
    _scopes("app", "uninstalled")
    | _scopes("brand/metafield", *_CRUD)
    | _scopes("cart", *_CRUD, "couponApplied", "abandoned", "converted")
    | _scopes("cart/lineItem", *_CRUD)
    | _scopes("cart/metafield", *_CRUD)
    | _scopes("category", *_CRUD)
    | _scopes("category/metafield", *_CRUD)
    | _scopes("channel", "created", "updated")
    | _scopes("channel/metafield", *_CRUD)
    | _scopes("channel/*/inventory/product", "stock_changed", "low_stock_reached")
    | _scopes("channel/*/inventory/product", "out_of_stock_reached", "settings_changed")
    | _scopes("customer", *_CRUD)
    | _scopes("customer/address", *_CRUD)
    | _scopes("customer/payment/instrument/default", "updated")
    | _scopes("customer/channel/login/access", "updated")
    | _scopes("hook", "deliveryException")
    | _scopes("information", "updated")
    | _scopes("inventory/location", "created", "updated")
    | _scopes("inventory/location/metafield", *_CRUD)
    | _scopes("metafield", *_CRUD)
    | _scopes("modifier", "updated")
    | _scopes("option", "updated")
    | _scopes("order", "archived")
    | _scopes("order/message", "created")
    | _scopes("order/metafield", *_CRUD)
    | _scopes("order/refund", "created")  # the order's status_id says refunded when it is
    | _scopes("order/transaction", "created", "updated")
    | _scopes("priceList", *_CRUD, "activated", "deactivated")
    | _scopes("priceList/assignment", "updated", "deleted")
    | _scopes("priceList/record", *_CRUD)
    | _scopes("priceList/records", *_CRUD)
    | _scopes("priceLists", "deleted")
    | _scopes("product", *_CRUD)
    | _scopes("product/inventory", "updated")
    | _scopes("product/inventory/order", "updated")
    | _scopes("product/metafield", *_CRUD)
    | _scopes("product/variant/metafield", *_CRUD)
    | _scopes("sku", *_CRUD)
    | _scopes("sku/inventory", "updated")
    | _scopes("sku/inventory/order", "updated")
    | _scopes("subscriber", *_CRUD)
)

SETUP = """\
Create one hook per scope with the store's API, `POST https://api.bigcommerce.com/stores/{store_hash}/v3/hooks`
(header `X-Auth-Token`), body `{"scope": "store/order/created", "destination":
"https://<your host>/webhooks/bigcommerce", "is_active": true, "headers": {"X-Webhook-Token":
"<WEBHOOK_SECRET_BIGCOMMERCE>"}}`; likewise for `store/order/updated`,
`store/order/statusUpdated`, `store/shipment/created`, `store/shipment/updated` and
`store/shipment/deleted`.
- `WEBHOOK_SECRET_BIGCOMMERCE`: the header's value (comma-separated while rotating: set
  `new,old`, `PUT /v3/hooks/{id}` each hook with the new value, then drop `old`).
  `WEBHOOK_HEADER_BIGCOMMERCE` names another header.
- The callbacks only name what changed: set `BIGCOMMERCE_ACCESS_TOKEN` (a store API account
  with the Orders read-only scope) and `BIGCOMMERCE_STORE_HASH` (callbacks from any other
  store are refused).
"""

VERIFIED = (
    "`X-Webhook-Token` (or the header WEBHOOK_HEADER_BIGCOMMERCE names) must equal"
    " WEBHOOK_SECRET_BIGCOMMERCE (constant time); BigCommerce signs nothing a store API account"
    " can check and sends no signed time, so there is no replay window. The delivery id is"
    " `scope:hash:created_at`."
)

#: What docs/providers.md lists, generated from these very tables.
TABLES = {"Order `status_id` (V2 order statuses)": ORDER_STATUSES}
