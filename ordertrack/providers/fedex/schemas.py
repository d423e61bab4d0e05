"""The push FedEx sends (a Track API response), as marshmallow schemas."""

from marshmallow import fields, validate

from ordertrack.providers.base import FlexibleDateTime, Lenient, LocalDate, edge_schema
from ordertrack.providers.fedex.tables import TOPIC


class _ScanEvent(Lenient):
    date = FlexibleDateTime(required=True)
    eventType = fields.String(allow_none=True)  # noqa: N815 - FedEx's names
    eventDescription = fields.String(allow_none=True)  # noqa: N815
    exceptionCode = fields.String(allow_none=True)  # noqa: N815
    exceptionDescription = fields.String(allow_none=True)  # noqa: N815


class _Ancillary(Lenient):
    reason = fields.String(allow_none=True)
    reasonDescription = fields.String(allow_none=True)  # noqa: N815


class _LatestStatus(Lenient):
    code = fields.String(required=True, validate=validate.Regexp(r"\s*\S"))
    derivedCode = fields.String(allow_none=True)  # noqa: N815
    description = fields.String(allow_none=True)
    ancillaryDetails = fields.List(fields.Nested(_Ancillary), load_default=list)  # noqa: N815


class _DateAndTime(Lenient):
    type = fields.String(allow_none=True)
    dateTime = LocalDate(allow_none=True)  # noqa: N815


class _Window(Lenient):
    begins = LocalDate(allow_none=True)
    ends = LocalDate(allow_none=True)


class _TimeWindow(Lenient):
    window = fields.Nested(_Window, load_default=dict)


class _NumberInfo(Lenient):
    trackingNumber = fields.String(allow_none=True)  # noqa: N815


class _TrackResult(Lenient):
    trackingNumberInfo = fields.Nested(_NumberInfo, load_default=dict)  # noqa: N815
    latestStatusDetail = fields.Nested(_LatestStatus, required=True)  # noqa: N815
    scanEvents = fields.List(fields.Nested(_ScanEvent), load_default=list)  # noqa: N815
    dateAndTimes = fields.List(fields.Nested(_DateAndTime), load_default=list)  # noqa: N815
    estimatedDeliveryTimeWindow = fields.Nested(_TimeWindow, allow_none=True)  # noqa: N815


class _CompleteTrackResult(Lenient):
    trackingNumber = fields.String(required=True, validate=validate.Regexp(r"\s*\S"))  # noqa: N815
    trackResults = fields.List(  # noqa: N815
        fields.Nested(_TrackResult), required=True, validate=validate.Length(min=1)
    )


class _Output(Lenient):
    completeTrackResults = fields.List(  # noqa: N815
        fields.Nested(_CompleteTrackResult), required=True, validate=validate.Length(min=1)
    )


class _Push(Lenient):
    output = fields.Nested(_Output, required=True)


HANDLED_TOPICS = {TOPIC: _Push()}
EDGE_SCHEMAS = {topic: edge_schema(schema) for topic, schema in HANDLED_TOPICS.items()}
