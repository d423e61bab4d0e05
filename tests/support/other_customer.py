"""A second customer for the attack tests: the story's Shopify fixtures rewritten so that every
id, name, address, number and parcel is someone else's (Grace, order #2077), signed as Shopify
signs them. What customer A must never see or touch, and B's own webhooks to make it exist."""

import json

from tests.support.webhooks import Request, easypost, fixture_body, shopify

#: Customer A's values in the fixtures -> customer B's.
_B = {
    "5531234567890": "5531234567999",  # order id
    "4451234567890": "4451234567999",  # fulfillment id
    "7712345678901": "7712345678999",  # customer id
    "13001234567890": "13001234567990",  # line items
    "13001234567891": "13001234567991",
    "#1042": "#2077",
    "ada@example.com": "grace@example.org",
    "+15555550142": "+15555550199",
    "Ada": "Grace",
    "Lovelace": "Hopper",
    "12 Analytical Avenue": "7 Compiler Court",
    "Apt 4B": "Suite 9",
    "9400111899223344556677": "9400111899223300000012",
    "Analytical Engine Poster": "Harvard Mark I Poster",
    "Difference Engine Mug": "Nanosecond Wire Mug",
}
ORDER_ID = _B["5531234567890"]
NAME = "#2077"
EMAIL = "grace@example.org"
PHONE = "+15555550199"
POSTCODE = "10001"  # the same city as A: a postcode is not what tells them apart
LINE_ITEMS = (_B["13001234567890"], _B["13001234567891"])
#: What no one but B (and the merchant) may see of B's order.
DETAILS = (
    NAME,
    "2077",
    ORDER_ID,
    EMAIL,
    PHONE,
    "Grace",
    "Hopper",
    "7 Compiler Court",
    _B["9400111899223344556677"],
    "Harvard Mark I Poster",
)
#: The same of customer A's (the story's order #1042; not "#1042" itself, which the look-up
#: form shows every visitor as its example order number).
A_DETAILS = (
    "ada@example.com",
    "+15555550142",
    "Lovelace",
    "12 Analytical Avenue",
    "9400111899223344556677",
    "1Z999AA10123456784",
    "Analytical Engine Poster",
)


def rewritten(source_body: bytes) -> bytes:
    text = source_body.decode()
    for a, b in _B.items():
        text = text.replace(a, b)
    document = json.loads(text)
    if "order_number" in document:
        document["order_number"] = 2077
    return json.dumps(document).encode()


def order_with_sms_consent(body: bytes) -> bytes:
    """The order as placed by a customer who agreed to texts (Shopify's consent field)."""
    order = json.loads(body)
    order["customer"]["sms_marketing_consent"] = {"state": "subscribed"}
    return json.dumps(order).encode()


def b_story(*, sms: bool = False) -> list[Request]:
    """B's order placed and shipped: an email to B. With `sms` B agreed to texts, and the
    parcel goes out for delivery: a text to B too (texts are for the last mile only)."""
    placed = rewritten(fixture_body("shopify", "orders_create"))
    if sms:
        placed = order_with_sms_consent(placed)
    shipped = rewritten(fixture_body("shopify", "fulfillments_create"))
    story = [
        shopify("orders_create", placed, webhook_id="b-orders-create"),
        shopify("fulfillments_create", shipped, webhook_id="b-fulfillments-create"),
    ]
    if sms:
        event = json.loads(rewritten(fixture_body("easypost", "tracker_updated__out_for_delivery")))
        event["id"], event["result"]["id"] = "evt_b0000000000000000000000000001", "trk_b0001"
        story.append(easypost("tracker_updated__out_for_delivery", json.dumps(event).encode()))
    return story


def numbered_order(number: int, email: str) -> Request:
    """A bare order #<number> for `email`: many of them make an order book to enumerate."""
    order = json.loads(fixture_body("shopify", "orders_create"))
    order |= {"id": 6_000_000_000_000 + number, "name": f"#{number}", "order_number": number}
    order["email"] = order["contact_email"] = order["customer"]["email"] = email
    return shopify("orders_create", json.dumps(order).encode(), webhook_id=f"order-{number}")
