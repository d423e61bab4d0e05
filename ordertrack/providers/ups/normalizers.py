"""UPS's scans as facts: one small function per topic, chosen through NORMALIZERS."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ordertrack.facts import Fact, ShipmentRef, TrackingFact, normalize_tracking_number
from ordertrack.providers.base import load
from ordertrack.providers.ups.schemas import HANDLED_TOPICS
from ordertrack.providers.ups.tables import CARRIER, CODES, TOPIC, TYPES
from ordertrack.statuses import ShipmentStatus


def normalize(topic: str, payload: Any, received_at: datetime) -> list[Fact]:
    return NORMALIZERS[topic](load(HANDLED_TOPICS[topic], payload, topic), received_at)


def _scan_facts(event: dict, received_at: datetime) -> list[Fact]:
    """One scan of one package."""
    status = event["activityStatus"]
    kind, code = status["type"].strip(), status["code"].strip()
    return [
        TrackingFact(
            shipment=ShipmentRef(
                tracking_number=normalize_tracking_number(event["tracking_number"]),
                carrier=CARRIER,
            ),
            status=canonical_status(kind, code),
            occurred_at=occurred_at(event) or received_at,
            raw_status=code or kind,
            detail="/".join(filter(None, (kind, status.get("description_code")))) or None,
            message=status.get("description") or None,
            carrier=CARRIER,
            est_delivery=event["scheduled_delivery"],
        )
    ]


def canonical_status(kind: str, code: str) -> ShipmentStatus | None:
    """The code when the table knows it; else the type, where the type alone is unambiguous.
    A `U` (no news about the parcel) and anything unknown are kept, never applied."""
    if code in CODES:
        return CODES[code]
    return TYPES.get(kind, ShipmentStatus.UNKNOWN)


def occurred_at(event: dict) -> datetime | None:
    """GMT date and time as UPS gives them; else local date and time less `gmtOffset`. With
    neither, the caller falls back on when the push arrived."""
    if event["gmt_date"] and event["gmt_time"]:
        return datetime.combine(event["gmt_date"], event["gmt_time"], UTC)
    local_date, local_time, offset = event["local_date"], event["local_time"], event["gmt_offset"]
    if local_date is None or local_time is None or offset is None:
        return None
    try:
        return datetime.combine(local_date, local_time, UTC) - offset
    except OverflowError:  # 0001-01-01 at a positive offset has no UTC form
        return None


NORMALIZERS: dict[str, Callable[[dict, datetime], list[Fact]]] = {TOPIC: _scan_facts}
