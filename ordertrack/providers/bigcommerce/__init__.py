"""BigCommerce: orders and shipments from a store's webhooks, read back through its V2 REST API.

Reference: developer.bigcommerce.com Webhooks Overview and Webhook Events, Orders V2 OpenAPI
(bigcommerce/docs). A callback is thin, `{scope, store_id, data: {type, id, ...}, hash,
created_at, producer: "stores/<hash>"}`: the worker fetches the order, its products and its
shipments (`fetch`, in `api.py`) and normalizes what the API says.

Authenticated by the custom header set when the hook is created (`headers` on
`POST /v3/hooks`), compared with WEBHOOK_SECRET_BIGCOMMERCE. Deliveries also carry Standard
Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`) keyed by an app's
client secret; a store API account has no such secret to give us, so they are not checked.
"""

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ordertrack.errors import BadSignature, MissingFields, UpstreamRefused
from ordertrack.facts import (
    Customer,
    Fact,
    FulfillmentFact,
    LineItem,
    OrderFact,
    normalize_tracking_number,
)
from ordertrack.providers.base import (
    Credentials,
    Delivery,
    Envelope,
    classify_topic,
    edge_schema,
    load,
)
from ordertrack.providers.bigcommerce import api
from ordertrack.providers.bigcommerce.resources import (
    CallbackHeader,
    OrderCallback,
    ShipmentCallback,
    fetched_schema,
)
from ordertrack.providers.bigcommerce.tables import (
    IGNORED_TOPICS,
    INCOMPLETE,
    ORDER_STATUSES,
    SETUP,
    SHIPPING_PROVIDERS,
    VERIFIED,
)
from ordertrack.providers.spec import Docs, Provider
from ordertrack.signatures import verify_any

if TYPE_CHECKING:
    from ordertrack.settings import Settings

NAME = "bigcommerce"
KIND = "platform"
#: The header the hook is told to send, unless WEBHOOK_HEADER_BIGCOMMERCE names another.
DEFAULT_HEADER = "X-Webhook-Token"
SHIPMENT_DELETED = "store/shipment/deleted"

HANDLED_TOPICS = {
    "store/order/created": OrderCallback(),
    "store/order/updated": OrderCallback(),
    "store/order/statusUpdated": OrderCallback(),
    "store/shipment/created": ShipmentCallback(),
    "store/shipment/updated": ShipmentCallback(),
    # The shipment is gone, so there is nothing to fetch: the callback's ids are enough to
    # cancel the fulfillment (a merchant deletes a shipment that was entered wrong).
    SHIPMENT_DELETED: ShipmentCallback(),
}
EDGE_SCHEMAS = {topic: edge_schema(schema) for topic, schema in HANDLED_TOPICS.items()}
FETCHED = {topic: fetched_schema(type(schema)) for topic, schema in HANDLED_TOPICS.items()}
CALLBACK_HEADER = CallbackHeader()

#: What docs/providers.md lists, generated from these very tables.
TABLES = {"Order `status_id` (V2 order statuses)": ORDER_STATUSES}


def verify(delivery: Delivery, credentials: Credentials) -> None:
    header = credentials.header or DEFAULT_HEADER
    presented = delivery.headers.get(header)
    if not presented:
        raise BadSignature(f"the {header} header is missing")
    try:
        verify_any(presented, credentials.secrets)
    except BadSignature:
        raise BadSignature(f"the {header} header does not match") from None


def dedupe_key(callback: dict) -> str:
    """`hash` alone is not enough: it is documented as the SHA-1 of the callback's data, and
    store/order/updated's data is `{type, id}`, the same for every update of one order. A retry
    resends the whole callback unchanged, so scope, hash and created_at name one event."""
    return f"{callback['scope']}:{callback['hash']}:{callback['created_at']}"


def envelope(delivery: Delivery, payload: Any) -> Envelope:
    header = load(CALLBACK_HEADER, payload, "callback")
    topic = header["scope"]
    handled = classify_topic(topic, HANDLED_TOPICS, IGNORED_TOPICS, NAME)
    if handled:
        load(EDGE_SCHEMAS[topic], payload, topic)
    return Envelope(topic=topic, dedupe_key=dedupe_key(header), handled=handled)


def fetch(topic: str, payload: Any, settings: "Settings") -> dict[str, Any]:
    """What the callback names, as the store's API says it is now (the worker's I/O step)."""
    callback = load(HANDLED_TOPICS[topic], payload, topic)
    store_hash = _store_hash(callback, settings)
    if topic == SHIPMENT_DELETED:
        return {"event": payload}
    data = callback["data"]
    order_id = data["orderId"] if topic.startswith("store/shipment/") else data["id"]
    with api.StoreApi(settings, store_hash) as store:
        order = store.resource(f"/orders/{order_id}")
        if order.get("status_id") == INCOMPLETE:
            return {"event": payload, "order": order}  # an abandoned checkout: nothing more
        products = store.collection(f"/orders/{order_id}/products")
        if topic.startswith("store/shipment/"):
            shipments = [store.resource(f"/orders/{order_id}/shipments/{data['id']}")]
        else:
            shipments = store.collection(f"/orders/{order_id}/shipments")
    return {"event": payload, "order": order, "products": products, "shipments": shipments}


def _store_hash(callback: dict, settings: "Settings") -> str:
    store_hash = callback["producer"].removeprefix("stores/")
    expected = settings.bigcommerce_store_hash
    if expected and store_hash != expected:
        raise UpstreamRefused(
            f"callback from store {store_hash!r}, but BIGCOMMERCE_STORE_HASH is {expected!r}"
        )
    return store_hash


def normalize(topic: str, payload: Any, received_at: datetime) -> list[Fact]:
    """Pure: `payload` is what fetch() returned. Every fact carries a time of its own."""
    fetched = load(FETCHED[topic], payload, topic)
    event = fetched["event"]
    if topic == SHIPMENT_DELETED:
        return [_deleted(event)]
    order = fetched["order"]
    if order is None:
        raise MissingFields(f"{topic}: the fetched order is missing")
    if order["status_id"] == INCOMPLETE:
        return []
    titles = {product["id"]: product["name"] for product in fetched["products"]}
    facts: list[Fact] = [_order_fact(order, fetched["products"])]
    facts += [_fulfillment_fact(s, titles, event) for s in fetched["shipments"]]
    return facts


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


#: The provider contract (docs/adding-a-provider.md).
DOCS = Docs(__doc__, SETUP, VERIFIED, HANDLED_TOPICS, IGNORED_TOPICS, TABLES)
PROVIDER = Provider(NAME, KIND, verify, envelope, normalize, DOCS, fetch=fetch)
