"""WooCommerce: orders from the webhooks under WooCommerce > Settings > Advanced > Webhooks.

Reference: woocommerce/woocommerce `includes/class-wc-webhook.php` (delivery, signature, ping)
and the REST API v3 order resource (woocommerce-rest-api-docs `wp-api-v3/_orders.md`). The body
is that resource and the topic travels in `X-WC-Webhook-Topic`; a deleted order is only
`{"id": N}`. Signed with a base64 HMAC-SHA256 of the raw body, keyed by the webhook secret once
WordPress has decoded its HTML entities. WooCommerce never retries, and keeps no tracking of its
own: parcels come from the WooCommerce Shipment Tracking plugin's order meta.
"""

import hashlib
import re
from dataclasses import replace
from datetime import datetime
from typing import Any

from marshmallow import ValidationError, fields

from ordertrack.errors import MissingFields
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
    FlexibleDateTime,
    Lenient,
    classify_topic,
    edge_schema,
    load,
)
from ordertrack.providers.spec import Docs, Provider
from ordertrack.signatures import base64_digests, verify_any
from ordertrack.statuses import OrderStatus

NAME = "woocommerce"
KIND = "platform"
SIGNATURE_HEADER = "X-WC-Webhook-Signature"
TOPIC_HEADER = "X-WC-Webhook-Topic"
DELIVERY_HEADER = "X-WC-Webhook-Delivery-ID"
#: Where the WooCommerce Shipment Tracking plugin keeps an order's parcels.
TRACKING_META_KEY = "_wc_shipment_tracking_items"

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


class _Billing(Lenient):
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)


class _Shipping(Lenient):
    country = fields.String(allow_none=True)
    postcode = fields.String(allow_none=True)
    state = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)


class _LineItem(Lenient):
    id = fields.Integer(required=True)
    name = fields.String(load_default="")
    quantity = fields.Integer(load_default=1)


class _Meta(Lenient):
    key = fields.String(required=True)
    value = fields.Raw(allow_none=True)


class _TrackingItem(Lenient):
    """One parcel as the Shipment Tracking plugin stores it (`date_shipped` is read by nobody:
    it is a day, and a later order update is newer news than the day it left)."""

    tracking_provider = fields.String(allow_none=True)
    custom_tracking_provider = fields.String(allow_none=True)
    custom_tracking_link = fields.String(allow_none=True)
    tracking_number = fields.String(required=True)
    tracking_id = fields.String(allow_none=True)


class _Order(Lenient):
    id = fields.Integer(required=True)
    number = fields.String(allow_none=True)
    status = fields.String(required=True)
    date_created_gmt = FlexibleDateTime(required=True)
    date_modified_gmt = FlexibleDateTime(allow_none=True)
    billing = fields.Nested(_Billing, allow_none=True)
    shipping = fields.Nested(_Shipping, allow_none=True)
    line_items = fields.List(fields.Nested(_LineItem), load_default=list)
    meta_data = fields.List(fields.Nested(_Meta), load_default=list)


class _Deleted(Lenient):
    id = fields.Integer(required=True)


HANDLED_TOPICS = {
    "order.created": _Order(),
    "order.updated": _Order(),
    "order.deleted": _Deleted(),
    "order.restored": _Order(),
}
EDGE_SCHEMAS = {topic: edge_schema(schema) for topic, schema in HANDLED_TOPICS.items()}
_TRACKING_ITEMS = _TrackingItem(many=True)

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

#: The ping WooCommerce sends when a webhook is saved: `webhook_id=<id>`, form-encoded.
_PING = re.compile(rb"webhook_id=[0-9]{1,20}")
_FORM = "application/x-www-form-urlencoded"

#: wp_specialchars_decode($secret, ENT_QUOTES): zero padding off numeric entities, then these.
_PADDED = (
    (re.compile(r"&#0*39;"), "&#039;"),
    (re.compile(r"&#x0*27;", re.IGNORECASE), "&#x27;"),
    (re.compile(r"&#0*34;"), "&#034;"),
    (re.compile(r"&#x0*22;", re.IGNORECASE), "&#x22;"),
    (re.compile(r"&#0*60;"), "&#060;"),
    (re.compile(r"&#0*62;"), "&#062;"),
    (re.compile(r"&#0*38;"), "&#038;"),
    (re.compile(r"&#x0*26;", re.IGNORECASE), "&#x26;"),
)
_ENTITIES = {
    **{e: "'" for e in ("&#039;", "&#x27;")},
    **{e: '"' for e in ("&quot;", "&#034;", "&#x22;")},
    **{e: "<" for e in ("&lt;", "&#060;")},
    **{e: ">" for e in ("&gt;", "&#062;")},
    **{e: "&" for e in ("&amp;", "&#038;", "&#x26;")},
}
_ENTITY = re.compile("|".join(map(re.escape, _ENTITIES)))


def wp_specialchars_decode(text: str) -> str:
    """The key WooCommerce signs with: the stored secret with only the entities of &, <, >, "
    and ' decoded, once (`&amp;lt;` stays `&lt;`); `&copy;` and the like stay as typed."""
    for pattern, canonical in _PADDED:
        text = pattern.sub(canonical, text)
    return _ENTITY.sub(lambda match: _ENTITIES[match.group()], text)


def handshake(delivery: Delivery) -> bool:
    """WooCommerce's ping on saving a webhook: unsigned, no topic, body `webhook_id=<digits>`.
    Anything but a 200 shows the merchant an error, and nothing in it is worth storing."""
    media_type = delivery.headers.get("Content-Type", "").partition(";")[0].strip().lower()
    return (
        media_type in ("", _FORM)
        and TOPIC_HEADER not in delivery.headers
        and _PING.fullmatch(delivery.body) is not None
    )


def verify(delivery: Delivery, credentials: Credentials) -> None:
    keys = (wp_specialchars_decode(secret).encode() for secret in credentials.secrets)
    verify_any(delivery.headers.get(SIGNATURE_HEADER), base64_digests(keys, delivery.body))


def envelope(delivery: Delivery, payload: Any) -> Envelope:
    topic = delivery.headers.get(TOPIC_HEADER)
    handled = classify_topic(topic, HANDLED_TOPICS, IGNORED_TOPICS, NAME)
    if handled:
        load(EDGE_SCHEMAS[topic], payload, topic)
    return Envelope(topic=topic, dedupe_key=dedupe_key(delivery, topic), handled=handled)


def dedupe_key(delivery: Delivery, topic: str) -> str:
    """WooCommerce has no event id. X-WC-Webhook-Delivery-ID is wp_hash(webhook id . current
    second): two deliveries in one second share it, so it cannot be the key alone; and as
    WooCommerce never retries, a duplicate is the same news sent twice, which is the same bytes
    (every order body carries its date_modified). So the key is a digest of topic and body. A
    deletion's body is only `{"id": N}`, the same each time: delete, restore and delete again
    would read as one, so deletions add the delivery id (two deletions of one order within one
    second would still read as one: a trash, restore and trash that fast is not a real case)."""
    parts = [topic.encode(), delivery.body]
    if topic.endswith(".deleted"):
        delivery_id = delivery.headers.get(DELIVERY_HEADER)
        if not delivery_id:
            raise MissingFields(f"{DELIVERY_HEADER} header is missing")
        parts.append(delivery_id.encode())
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big") + part)
    return f"sha256:{digest.hexdigest()}"


def normalize(topic: str, payload: Any, received_at: datetime) -> list[Fact]:
    data = load(HANDLED_TOPICS[topic], payload, topic)
    if topic == "order.deleted":
        return [_deleted(data, received_at)]
    if data["status"] in NOT_PLACED:
        return []
    # `_gmt` times carry no offset but are UTC; the others are the shop's wall clock.
    occurred_at: datetime = data.get("date_modified_gmt") or data["date_created_gmt"]
    if topic == "order.restored":
        # A deletion is dated when we heard of it (its body has no time), so the restore that
        # undoes it must be at least as late, or a delivery delay would leave it cancelled.
        # WooCommerce never retries, so hearing order is the order things happened in.
        occurred_at = max(occurred_at, received_at)
    parcels = _fulfillment_facts(data, occurred_at)
    # The plugin cannot edit a tracking item, only delete it and add another: the order's
    # list is complete, so a parcel missing from it was removed.
    listed = tuple(parcel.fulfillment_id for parcel in parcels)
    return [replace(_order_fact(data, occurred_at), fulfillment_ids=listed), *parcels]


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
        return _TRACKING_ITEMS.load(value)
    except ValidationError as exc:
        raise MissingFields(
            f"order meta {TRACKING_META_KEY} is not a list of tracking items",
            {"meta_data": exc.messages},
        ) from None


#: The provider contract (docs/adding-a-provider.md).
DOCS = Docs(__doc__, SETUP, VERIFIED, HANDLED_TOPICS, IGNORED_TOPICS, TABLES)
PROVIDER = Provider(NAME, KIND, verify, envelope, normalize, DOCS, handshake=handshake)
