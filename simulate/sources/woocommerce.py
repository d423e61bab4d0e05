"""WooCommerce, as `WC_Webhook::deliver()` sends for a webhook on *WP REST API Integration v3*:
the body is the REST v3 order, `trim(wp_json_encode(...))` (so `/` is written `\\/` and
non-ASCII `\\uXXXX`), the topic and ids travel in `X-WC-Webhook-*` headers, and
`X-WC-Webhook-Signature` is the base64 HMAC-SHA256 of the body keyed by the webhook secret
after WordPress decodes its HTML entities (`wp_specialchars_decode(..., ENT_QUOTES)`).

WooCommerce has no fulfillments: tracking numbers are the Shipment Tracking plugin's
`_wc_shipment_tracking_items` order meta, sent with the next `order.updated`. The order stays
`processing` when tracking is added (the plugin allows it; `completed` would be the merchant's
own word, which a story does not speak for)."""

import base64
import json
import re
from datetime import UTC, datetime, timedelta

from simulate.sources import Parcel, Post, Scene, hmac_sha256, local, post
from simulate.stories import CUSTOMER, ITEMS, Fulfill, Pay, PlaceOrder

NAME = "woocommerce"
SITE = "https://analytical-engines.example/"
USER_AGENT = "WooCommerce/10.3.0 Hookshot (WordPress/6.9)"
#: One webhook per topic, as the WooCommerce admin creates them.
WEBHOOK_IDS = {"order.created": 11, "order.updated": 12}
TRACKING_META_KEY = "_wc_shipment_tracking_items"


def order_id(serial: int) -> int:
    return serial


def build(scene: Scene, index: int) -> Post:
    step = scene.story.steps[index]
    if isinstance(step, PlaceOrder):
        return _signed(scene, index, "order.created", _order(scene, step.at, "pending"))
    if isinstance(step, Pay | Fulfill):
        return _signed(scene, index, "order.updated", _order(scene, step.at, "processing"))
    raise TypeError(f"{NAME} does not report {type(step).__name__}")


#: wp_specialchars_decode($secret, ENT_QUOTES): only these entities, decoded once.
_ENTITIES = {
    "&amp;": "&",
    "&#038;": "&",
    "&lt;": "<",
    "&#060;": "<",
    "&gt;": ">",
    "&#062;": ">",
    "&quot;": '"',
    "&#034;": '"',
    "&#039;": "'",
    "&#39;": "'",
}
_ENTITY = re.compile("|".join(map(re.escape, _ENTITIES)))


def signing_key(secret: str) -> bytes:
    return _ENTITY.sub(lambda match: _ENTITIES[match.group()], secret).encode()


def signature(body: bytes, secret: str) -> str:
    """`X-WC-Webhook-Signature`: base64(HMAC-SHA256(body, wp_specialchars_decode(secret)))."""
    return base64.b64encode(hmac_sha256(signing_key(secret), body)).decode()


def sign(body: bytes, secret: str) -> dict[str, str]:
    return {"X-WC-Webhook-Signature": signature(body, secret)}


def wp_json_encode(payload: dict) -> bytes:
    """PHP's json_encode defaults: ASCII only, slashes escaped, no spaces."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
    return text.replace("/", "\\/").encode()


def _signed(scene: Scene, index: int, topic: str, payload: dict) -> Post:
    body = wp_json_encode(payload)
    resource, _, event = topic.partition(".")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-WC-Webhook-Source": SITE,
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": signature(body, scene.secret(NAME)),
        "X-WC-Webhook-ID": str(WEBHOOK_IDS[topic]),
        # wp_hash(webhook id . time()): 32 hex digits, not an event id.
        "X-WC-Webhook-Delivery-ID": scene.digest(index, "delivery"),
    }
    return post(NAME, topic, headers, body)


def _wall(moment: datetime | None) -> str | None:
    """WooCommerce's `date_*` (site wall clock) and `date_*_gmt` (UTC), neither with offset."""
    return local(moment).strftime("%Y-%m-%dT%H:%M:%S") if moment else None


def _order(scene: Scene, until: timedelta, status: str) -> dict:
    """The order as it stands at `until`: paid or not, its tracking items so far."""
    number = order_id(scene.serial)
    created, modified, paid = scene.started, scene.started + until, scene.paid_at(until)
    return {
        "id": number,
        "parent_id": 0,
        "number": str(number),
        "order_key": f"wc_order_{scene.digest(0, 'key')[:13]}",
        "created_via": "checkout",
        "status": status,
        "currency": "USD",
        "date_created": _wall(created),
        "date_created_gmt": _utc_wall(created),
        "date_modified": _wall(modified),
        "date_modified_gmt": _utc_wall(modified),
        "date_paid": _wall(paid),
        "date_paid_gmt": _utc_wall(paid),
        "total": "65.70",
        "customer_id": 42,
        "billing": _address(with_email=True),
        "shipping": _address(with_email=False),
        "payment_method": "stripe" if paid else "",
        "meta_data": _meta(scene, until),
        "line_items": [_line_item(number, n) for n in range(1, len(ITEMS) + 1)],
    }


def _utc_wall(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") if moment else None


def _meta(scene: Scene, until: timedelta) -> list[dict]:
    items = [_tracking_item(scene, parcel, at) for parcel, at in scene.fulfilled(until)]
    if not items:
        return []
    return [{"id": 5100 + scene.serial % 1000, "key": TRACKING_META_KEY, "value": items}]


def _tracking_item(scene: Scene, parcel: Parcel, at: datetime) -> dict:
    """As the Shipment Tracking plugin stores a parcel: `date_shipped` is the day, in unix
    seconds as a string; `tracking_id` an md5 made once when the number is added."""
    shipped_day = local(at).replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "tracking_provider": parcel.carrier,
        "custom_tracking_provider": "",
        # A listed provider's link is the plugin's own to make; only custom ones carry one.
        "custom_tracking_link": "",
        "tracking_number": parcel.tracking_number,
        "date_shipped": str(int(shipped_day.timestamp())),
        "tracking_id": scene.digest(parcel.number, "tracking-id"),
    }


def _line_item(order: int, line: int) -> dict:
    item = ITEMS[line - 1]
    return {
        "id": order * 10 + line,
        "name": item.title,
        "product_id": 30 + line,
        "variation_id": 0,
        "quantity": item.quantity,
        "price": float(item.price),
    }


def _address(*, with_email: bool) -> dict:
    address = {
        "first_name": CUSTOMER["first_name"],
        "last_name": CUSTOMER["last_name"],
        "address_1": CUSTOMER["address1"],
        "address_2": CUSTOMER["address2"],
        "city": CUSTOMER["city"],
        "state": CUSTOMER["state"],
        "postcode": CUSTOMER["zip"],
        "country": CUSTOMER["country"],
        "phone": CUSTOMER["phone"],
    }
    return address | {"email": CUSTOMER["email"]} if with_email else address
