"""The event Shippo sends, as marshmallow schemas; EVENT_HEADER is what names its topic."""

from marshmallow import fields

from ordertrack.providers.base import FlexibleDateTime, Lenient, LocalDate, edge_schema


class _Substatus(Lenient):
    code = fields.String(allow_none=True)


class _TrackingStatus(Lenient):
    status = fields.String(required=True)
    object_id = fields.String(allow_none=True)
    status_date = FlexibleDateTime(allow_none=True)
    object_updated = FlexibleDateTime(allow_none=True)
    status_details = fields.String(allow_none=True)
    substatus = fields.Nested(_Substatus, allow_none=True)


class _Track(Lenient):
    tracking_number = fields.String(required=True)
    carrier = fields.String(required=True)
    eta = LocalDate(allow_none=True)
    tracking_status = fields.Nested(_TrackingStatus, required=True)


class _Event(Lenient):
    event = fields.String(required=True)
    data = fields.Nested(_Track, required=True)


class _EventHeader(Lenient):
    event = fields.String(required=True)


EVENT_HEADER = _EventHeader()
HANDLED_TOPICS = {"track_updated": _Event()}
EDGE_SCHEMAS = {topic: edge_schema(schema) for topic, schema in HANDLED_TOPICS.items()}
