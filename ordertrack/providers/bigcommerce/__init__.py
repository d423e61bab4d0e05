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

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ordertrack.errors import BadSignature, UpstreamRefused
from ordertrack.providers.base import Credentials, Envelope, WebhookRequest, classify_topic, load
from ordertrack.providers.bigcommerce import api, tables
from ordertrack.providers.bigcommerce.normalizers import normalize
from ordertrack.providers.bigcommerce.schemas import CALLBACK_HEADER, EDGE_SCHEMAS, HANDLED_TOPICS
from ordertrack.providers.spec import Docs, Provider
from ordertrack.signatures import verify_any

if TYPE_CHECKING:
    from ordertrack.settings import Settings

#: The header the hook is told to send, unless WEBHOOK_HEADER_BIGCOMMERCE names another.
DEFAULT_HEADER = "X-Webhook-Token"


def verify(delivery: WebhookRequest, credentials: Credentials) -> None:
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


def envelope(delivery: WebhookRequest, payload: Any) -> Envelope:
    header = load(CALLBACK_HEADER, payload, "callback")
    topic = header["scope"]
    handled = classify_topic(topic, HANDLED_TOPICS, tables.IGNORED_TOPICS, tables.NAME)
    if handled:
        load(EDGE_SCHEMAS[topic], payload, topic)
    return Envelope(topic=topic, dedupe_key=dedupe_key(header), handled=handled)


def fetch(topic: str, payload: Any, settings: "Settings") -> dict[str, Any]:
    """What the callback names, as the store's API says it is now (the worker's I/O step)."""
    callback = load(HANDLED_TOPICS[topic], payload, topic)
    store_hash = _store_hash(callback, settings)
    if topic == tables.SHIPMENT_DELETED:
        return {"event": payload}
    order_id, shipment_id = NAMED[topic](callback["data"])
    with api.StoreApi(settings, store_hash) as store:
        order = store.resource(f"/orders/{order_id}")
        if order.get("status_id") == tables.INCOMPLETE:
            return {"event": payload, "order": order}  # an abandoned checkout: nothing more
        products = store.collection(f"/orders/{order_id}/products")
        if shipment_id is not None:
            shipments = [store.resource(f"/orders/{order_id}/shipments/{shipment_id}")]
        else:
            shipments = store.collection(f"/orders/{order_id}/shipments")
    return {"event": payload, "order": order, "products": products, "shipments": shipments}


def _order_named(data: dict) -> tuple[int, None]:
    """An order's scope names the order: fetch it with all its shipments."""
    return data["id"], None


def _shipment_named(data: dict) -> tuple[int, int]:
    """A shipment's scope names the shipment and its order: fetch the order and that one."""
    return data["orderId"], data["id"]


#: What each scope with something to fetch names: (order id, shipment id or None).
NAMED: dict[str, Callable[[dict], tuple[int, int | None]]] = {
    "store/order/created": _order_named,
    "store/order/updated": _order_named,
    "store/order/statusUpdated": _order_named,
    "store/shipment/created": _shipment_named,
    "store/shipment/updated": _shipment_named,
}


def _store_hash(callback: dict, settings: "Settings") -> str:
    store_hash = callback["producer"].removeprefix("stores/")
    expected = settings.bigcommerce_store_hash
    if expected and store_hash != expected:
        raise UpstreamRefused(
            f"callback from store {store_hash!r}, but BIGCOMMERCE_STORE_HASH is {expected!r}"
        )
    return store_hash


#: The provider contract (docs/adding-a-provider.md).
DOCS = Docs(
    __doc__, tables.SETUP, tables.VERIFIED, HANDLED_TOPICS, tables.IGNORED_TOPICS, tables.TABLES
)
PROVIDER = Provider(tables.NAME, tables.KIND, verify, envelope, normalize, DOCS, fetch=fetch)
