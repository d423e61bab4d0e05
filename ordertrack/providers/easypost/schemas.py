"""The Event EasyPost sends, as marshmallow schemas; EVENT_HEADER is what names its topic."""

from marshmallow import fields

from ordertrack.providers.base import FlexibleDateTime, Lenient, LocalDate, edge_schema


class _Detail(Lenient):
    datetime = FlexibleDateTime(required=True)
    status = fields.String(allow_none=True)
    message = fields.String(allow_none=True)


class _Tracker(Lenient):
    tracking_code = fields.String(required=True)
    carrier = fields.String(allow_none=True)
    status = fields.String(required=True)
    status_detail = fields.String(allow_none=True)
    est_delivery_date = LocalDate(allow_none=True)
    updated_at = FlexibleDateTime(allow_none=True)
    tracking_details = fields.List(fields.Nested(_Detail), load_default=list)


class _Event(Lenient):
    id = fields.String(required=True)
    description = fields.String(required=True)
    created_at = FlexibleDateTime(required=True)
    result = fields.Nested(_Tracker, required=True)


class _EventHeader(Lenient):
    id = fields.String(required=True)
    description = fields.String(required=True)


EVENT_HEADER = _EventHeader()
HANDLED_TOPICS = {"tracker.created": _Event(), "tracker.updated": _Event()}
EDGE_SCHEMAS = {topic: edge_schema(schema) for topic, schema in HANDLED_TOPICS.items()}
