"""Shopify, as its Admin webhooks send (shopify.dev/docs/api/webhooks, API 2026-07): the body
is the REST resource (Order, or Fulfillment), the topic and the delivery's ids travel in
`X-Shopify-*` headers, and `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of the raw body
keyed by the app's client secret. Times are shop-local with their offset, as Shopify writes
them. Only the fields ordertrack reads and the resource's identifying fields are sent."""

from datetime import datetime, timedelta

from simulate.sources import Parcel, Post, Scene, base64_hmac, compact, local, post
from simulate.stories import CUSTOMER, ITEMS, Fulfill, Pay, PlaceOrder

NAME = "shopify"
API_VERSION = "2026-07"
SHOP_DOMAIN = "ordertrack-simulated.myshopify.com"
#: Shopify ids are int64 and large; these bases keep simulated ones recognisable.
ORDER_BASE, FULFILLMENT_BASE, LINE_ITEM_BASE = 6_000_000_000_000, 4_000_000_000_000, 13 * 10**12


def order_id(serial: int) -> int:
    return ORDER_BASE + serial


def build(scene: Scene, index: int) -> Post:
    step = scene.story.steps[index]
    if isinstance(step, PlaceOrder):
        return _signed(scene, index, "orders/create", _order(scene, step.at, "pending"))
    if isinstance(step, Pay):
        return _signed(scene, index, "orders/paid", _order(scene, step.at, "paid"))
    if isinstance(step, Fulfill):
        fulfillment = _fulfillment(scene, scene.parcels[step.parcel], scene.time(step))
        return _signed(scene, index, "fulfillments/create", fulfillment)
    raise TypeError(f"{NAME} does not report {type(step).__name__}")


def _signed(scene: Scene, index: int, topic: str, payload: dict) -> Post:
    body = compact(payload)
    triggered = scene.time(scene.story.steps[index]) + timedelta(milliseconds=912)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Shopify-Captain-Hook",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": signature(body, scene.secret(NAME)),
        "X-Shopify-Shop-Domain": SHOP_DOMAIN,
        "X-Shopify-API-Version": API_VERSION,
        # One id per delivery (the idempotency key); the event id is shared by every
        # subscription that one merchant action triggers.
        "X-Shopify-Webhook-Id": scene.uuid(index, "webhook"),
        "X-Shopify-Event-Id": scene.uuid(index, "event"),
        "X-Shopify-Triggered-At": triggered.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    return post(NAME, topic, headers, body)


def signature(body: bytes, secret: str) -> str:
    """`X-Shopify-Hmac-Sha256`: keyed by the app's client secret."""
    return base64_hmac(secret, body)


def sign(body: bytes, secret: str) -> dict[str, str]:
    return {"X-Shopify-Hmac-Sha256": signature(body, secret)}


def _stamp(moment: datetime) -> str:
    return local(moment).isoformat(timespec="seconds")


def _order(scene: Scene, until: timedelta, financial_status: str) -> dict:
    """The Order as it stands at `until`: its fulfillments so far included."""
    number = order_id(scene.serial)
    created = scene.started
    updated = scene.started + until
    fulfillments = [_fulfillment(scene, parcel, at) for parcel, at in scene.fulfilled(until)]
    return {
        "id": number,
        "admin_graphql_api_id": f"gid://shopify/Order/{number}",
        "name": f"#{scene.serial}",
        "order_number": scene.serial,
        "email": CUSTOMER["email"],
        "phone": CUSTOMER["phone"],
        "created_at": _stamp(created),
        "updated_at": _stamp(updated),
        "processed_at": _stamp(created),
        "cancelled_at": None,
        "cancel_reason": None,
        "currency": "USD",
        "financial_status": financial_status,
        "fulfillment_status": _fulfillment_status(scene, len(fulfillments)),
        "test": True,
        "customer": {
            "id": 7_000_000_000_000 + scene.serial,
            "email": CUSTOMER["email"],
            "phone": CUSTOMER["phone"],
            "first_name": CUSTOMER["first_name"],
            "last_name": CUSTOMER["last_name"],
        },
        "shipping_address": _address(),
        "line_items": [_line_item(scene, n) for n in range(1, len(ITEMS) + 1)],
        "fulfillments": fulfillments,
    }


def _fulfillment_status(scene: Scene, fulfilled: int) -> str | None:
    if not fulfilled:
        return None
    return "fulfilled" if fulfilled == len(scene.parcels) else "partial"


def _fulfillment(scene: Scene, parcel: Parcel, at: datetime) -> dict:
    number = FULFILLMENT_BASE + scene.serial * 10 + parcel.number
    return {
        "id": number,
        "admin_graphql_api_id": f"gid://shopify/Fulfillment/{number}",
        "order_id": order_id(scene.serial),
        "name": f"#{scene.serial}.{parcel.number}",
        "status": "success",
        "service": "manual",
        "shipment_status": None,
        "created_at": _stamp(at),
        "updated_at": _stamp(at),
        "tracking_company": parcel.carrier,
        "tracking_number": parcel.tracking_number,
        "tracking_numbers": [parcel.tracking_number],
        "tracking_url": parcel.tracking_url,
        "tracking_urls": [parcel.tracking_url],
        "line_items": [_line_item(scene, n) for n in parcel.items],
    }


def _line_item(scene: Scene, line: int) -> dict:
    item = ITEMS[line - 1]
    number = LINE_ITEM_BASE + scene.serial * 10 + line
    return {
        "id": number,
        "admin_graphql_api_id": f"gid://shopify/LineItem/{number}",
        "title": item.title,
        "name": item.title,
        "quantity": item.quantity,
        "price": item.price,
        "requires_shipping": True,
    }


def _address() -> dict:
    return {
        "first_name": CUSTOMER["first_name"],
        "last_name": CUSTOMER["last_name"],
        "address1": CUSTOMER["address1"],
        "address2": CUSTOMER["address2"],
        "city": CUSTOMER["city"],
        "province_code": CUSTOMER["state"],
        "zip": CUSTOMER["zip"],
        "country_code": CUSTOMER["country"],
        "phone": CUSTOMER["phone"],
    }
