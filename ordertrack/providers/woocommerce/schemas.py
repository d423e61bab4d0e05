"""The REST v3 order WooCommerce sends, as marshmallow schemas, and the Shipment Tracking
plugin's items kept in its meta."""

from marshmallow import fields

from ordertrack.providers.base import FlexibleDateTime, Lenient, edge_schema


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
TRACKING_ITEMS = _TrackingItem(many=True)
