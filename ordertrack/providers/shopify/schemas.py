"""The payloads Shopify sends, as marshmallow schemas: each handled topic's, and the fields
the receiver checks before it commits (EDGE_SCHEMAS)."""

from marshmallow import fields

from ordertrack.providers.base import FlexibleDateTime, Lenient, LocalDate, edge_schema


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
