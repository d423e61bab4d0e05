"""The scan UPS Track Alert pushes, as marshmallow schemas, with UPS's own date, time and
offset formats."""

from datetime import date, datetime, time, timedelta
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from ordertrack.providers.base import Lenient, edge_schema
from ordertrack.providers.ups.tables import TOPIC


class _Formatted(fields.String):
    """UPS dates (YYYYMMDD), times (HHMMSS) and offsets (-04.00) are strings, and "not every
    field will have a value": an empty string is None."""

    def __init__(self, parse, **kwargs):
        super().__init__(allow_none=True, load_default=None, **kwargs)
        self._parse = parse

    def _deserialize(self, value: Any, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            return None
        try:
            return self._parse(text)
        except ValueError:
            raise ValidationError(f"not a UPS {attr}: {text[:20]!r}") from None


def _date(text: str) -> date:
    if len(text) != 8 or not text.isdigit():
        raise ValueError(text)
    return datetime.strptime(text, "%Y%m%d").date()


def _time(text: str) -> time:
    # Track API examples drop the leading zero of the hour ("74700"); Track Alert pads it.
    if len(text) not in (5, 6) or not text.isdigit():
        raise ValueError(text)
    return datetime.strptime(text.zfill(6), "%H%M%S").time()


def _offset(text: str) -> timedelta:
    """`-04.00` as Track Alert writes it ((-/+)HH.MM), or `-04:00` as the Track API does."""
    sign, hours, separator, minutes = text[:1], text[1:3], text[3:4], text[4:]
    if sign not in ("+", "-") or separator not in (".", ":") or not (hours + minutes).isdigit():
        raise ValueError(text)
    if len(hours) != 2 or len(minutes) != 2:
        raise ValueError(text)
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    return -delta if sign == "-" else delta


class _DescriptionCode(fields.String):
    """A 3-digit string ("021"); the v2 YAML writes it unquoted, which JSON makes a number."""

    def _deserialize(self, value: Any, attr, data, **kwargs) -> str:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1000:
            return f"{value:03d}"
        return super()._deserialize(value, attr, data, **kwargs)


class _ActivityStatus(Lenient):
    # Both optional in UPS's schema; a scan with neither says nothing (see _require_one).
    type = fields.String(load_default="")
    code = fields.String(load_default="")
    description = fields.String(allow_none=True)
    description_code = _DescriptionCode(data_key="descriptionCode", allow_none=True)

    @validates_schema
    def _require_one(self, data: dict, **kwargs) -> None:
        if not (data["type"].strip() or data["code"].strip()):
            raise ValidationError("an activity status needs a type or a code", "code")


class _TrackingEvent(Lenient):
    # A leading space is in UPS's own example (" 1ZABCXYZ0112346789"): only blank is refused.
    tracking_number = fields.String(
        data_key="trackingNumber", required=True, validate=validate.Regexp(r"\s*\S")
    )
    # UPS's name as the attribute: edge_schema() rebuilds a nested field without its data_key.
    activityStatus = fields.Nested(_ActivityStatus, required=True)  # noqa: N815
    gmt_date = _Formatted(_date, data_key="gmtActivityDate")
    gmt_time = _Formatted(_time, data_key="gmtActivityTime")
    local_date = _Formatted(_date, data_key="localActivityDate")
    local_time = _Formatted(_time, data_key="localActivityTime")
    gmt_offset = _Formatted(_offset, data_key="gmtOffset")
    scheduled_delivery = _Formatted(_date, data_key="scheduledDeliveryDate")


HANDLED_TOPICS = {TOPIC: _TrackingEvent()}
EDGE_SCHEMAS = {topic: edge_schema(schema) for topic, schema in HANDLED_TOPICS.items()}
