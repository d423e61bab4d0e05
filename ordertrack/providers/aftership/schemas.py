"""The event AfterShip sends, as marshmallow schemas; EVENT_HEADER is what names its topic."""

from marshmallow import fields

from ordertrack.providers.base import FlexibleDateTime, Lenient, edge_schema


class _Checkpoint(Lenient):
    # Kept as text: a time without offset cannot be placed, and must not fail the event.
    checkpoint_time = fields.String(allow_none=True)
    message = fields.String(allow_none=True)


class _LatestEstimate(Lenient):
    datetime = fields.String(allow_none=True)
    datetime_max = fields.String(allow_none=True)


class _DayEstimate(Lenient):
    estimated_delivery_date = fields.String(allow_none=True)


class _Tracking(Lenient):
    tracking_number = fields.String(required=True)
    slug = fields.String(allow_none=True)
    tag = fields.String(required=True)
    subtag = fields.String(allow_none=True)
    subtag_message = fields.String(allow_none=True)
    checkpoints = fields.List(fields.Nested(_Checkpoint), allow_none=True, load_default=list)
    latest_estimated_delivery = fields.Nested(_LatestEstimate, allow_none=True)
    aftership_estimated_delivery_date = fields.Nested(_DayEstimate, allow_none=True)
    courier_estimated_delivery_date = fields.Nested(_DayEstimate, allow_none=True)
    expected_delivery = fields.String(allow_none=True)  # before 2024 versions


class _Event(Lenient):
    event = fields.String(required=True)
    event_id = fields.String(required=True)
    ts = FlexibleDateTime(allow_none=True)
    msg = fields.Nested(_Tracking, required=True)


class _EventHeader(Lenient):
    event = fields.String(required=True)
    event_id = fields.String(required=True)


EVENT_HEADER = _EventHeader()
HANDLED_TOPICS = {"tracking_update": _Event()}
EDGE_SCHEMAS = {topic: edge_schema(schema) for topic, schema in HANDLED_TOPICS.items()}
