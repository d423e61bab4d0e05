"""The shapes ordertrack reads: the webhook callback (thin) and the V2 REST resources the worker
fetches for it (Orders V2 OpenAPI, bigcommerce/docs `reference/orders.v2.oas2.yml`).

Only the fields normalize() uses are declared; the rest of each resource passes through.
"""

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from marshmallow import ValidationError, fields, validate

from ordertrack.providers.base import Lenient, edge_schema
from ordertrack.providers.bigcommerce.tables import SHIPMENT_DELETED

#: `producer` is always `stores/{store_hash}`; the hash goes into API paths, so nothing else
#: is let through.
PRODUCER = validate.Regexp(r"^stores/[A-Za-z0-9]{1,64}$", error="must be stores/<store hash>")


class Rfc2822DateTime(fields.Field):
    """V2 dates are RFC 2822 (`Tue, 20 Nov 2012 00:00:00 +0000`), documented as always UTC;
    `-0000` (no zone given) is read as UTC for that reason. Always aware UTC out."""

    def _deserialize(self, value: Any, attr, data, **kwargs) -> datetime:
        if not isinstance(value, str) or not value.strip():
            raise ValidationError("not an RFC 2822 date")
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            raise ValidationError("not an RFC 2822 date") from None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise ValidationError("date out of range") from None


# --- The webhook callback: {scope, store_id, data, hash, created_at, producer}


class StatusChange(Lenient):
    previous_status_id = fields.Integer(allow_none=True)
    new_status_id = fields.Integer(allow_none=True)


class OrderData(Lenient):
    type = fields.String(required=True)
    id = fields.Integer(required=True, strict=True)
    #: Only on store/order/statusUpdated; informative, the fetched order is what counts.
    status = fields.Nested(StatusChange, load_default=None)


class ShipmentData(Lenient):
    type = fields.String(required=True)
    id = fields.Integer(required=True, strict=True)
    #: The order the shipment belongs to (the events reference spells it camelCase).
    orderId = fields.Integer(required=True, strict=True)  # noqa: N815


class CallbackHeader(Lenient):
    """What every scope carries, handled or not: enough to name and dedupe the delivery."""

    scope = fields.String(required=True, validate=validate.Length(min=1, max=120))
    hash = fields.String(required=True, validate=validate.Length(min=1, max=128))
    #: Unix seconds; bounded so the dedupe key stays short and the time representable.
    created_at = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=0, max=10**11)
    )


class OrderCallback(CallbackHeader):
    producer = fields.String(required=True, validate=PRODUCER)
    data = fields.Nested(OrderData, required=True)


class ShipmentCallback(CallbackHeader):
    producer = fields.String(required=True, validate=PRODUCER)
    data = fields.Nested(ShipmentData, required=True)


# --- V2 REST resources


class Address(Lenient):
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    country_iso2 = fields.String(allow_none=True)
    zip = fields.String(allow_none=True)


class Order(Lenient):
    id = fields.Integer(required=True, strict=True)
    status_id = fields.Integer(required=True, strict=True)
    status = fields.String(allow_none=True)
    date_created = Rfc2822DateTime(required=True)
    date_modified = Rfc2822DateTime(allow_none=True)
    billing_address = fields.Nested(Address, load_default=None)


class OrderProduct(Lenient):
    #: The order product id (not the catalog `product_id`): what shipment items name.
    id = fields.Integer(required=True, strict=True)
    name = fields.String(load_default="")
    quantity = fields.Integer(load_default=1)


class ShipmentItem(Lenient):
    order_product_id = fields.Integer(required=True, strict=True)
    quantity = fields.Integer(required=True)


class Shipment(Lenient):
    id = fields.Integer(required=True, strict=True)
    order_id = fields.Integer(required=True, strict=True)
    date_created = Rfc2822DateTime(required=True)
    tracking_number = fields.String(allow_none=True)
    shipping_provider = fields.String(allow_none=True)
    tracking_carrier = fields.String(allow_none=True)
    shipping_provider_display_name = fields.String(allow_none=True)
    tracking_link = fields.String(allow_none=True)
    generated_tracking_link = fields.String(allow_none=True)
    items = fields.List(fields.Nested(ShipmentItem), load_default=list)


def fetched_schema(callback: type[CallbackHeader]) -> Lenient:
    """What fetch() returns for one scope: the callback as sent, and what the API said."""
    return Lenient.from_dict(
        {
            "event": fields.Nested(callback, required=True),
            "order": fields.Nested(Order, load_default=None),
            "products": fields.List(fields.Nested(OrderProduct), load_default=list),
            "shipments": fields.List(fields.Nested(Shipment), load_default=list),
        },
        name=f"Fetched{callback.__name__}",
    )()


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
