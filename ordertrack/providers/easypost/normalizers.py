"""EasyPost's Events as facts: one small function per topic, chosen through NORMALIZERS."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ordertrack.facts import Fact, ShipmentRef, TrackingFact, normalize_tracking_number
from ordertrack.providers.base import load
from ordertrack.providers.easypost.schemas import HANDLED_TOPICS
from ordertrack.providers.easypost.tables import STATUSES
from ordertrack.statuses import ShipmentStatus


def normalize(topic: str, payload: Any, received_at: datetime) -> list[Fact]:
    return NORMALIZERS[topic](load(HANDLED_TOPICS[topic], payload, topic))


def _tracker_facts(event: dict) -> list[Fact]:
    """A tracker was created or changed: its status now, as of its newest scan."""
    tracker = event["result"]
    details = tracker["tracking_details"]
    # The newest tracking detail is when the status happened; the event's own time is only
    # when EasyPost noticed.
    occurred_at = max((d["datetime"] for d in details), default=None)
    return [
        TrackingFact(
            shipment=ShipmentRef(
                tracking_number=normalize_tracking_number(tracker["tracking_code"]),
                carrier=tracker.get("carrier"),
            ),
            status=STATUSES.get(tracker["status"], ShipmentStatus.UNKNOWN),
            occurred_at=occurred_at or tracker.get("updated_at") or event["created_at"],
            raw_status=tracker["status"],
            detail=tracker.get("status_detail"),
            message=details[-1].get("message") if details else None,
            carrier=tracker.get("carrier"),
            est_delivery=tracker.get("est_delivery_date"),
        )
    ]


#: Both tracker topics carry the whole Tracker.
NORMALIZERS: dict[str, Callable[[dict], list[Fact]]] = {
    "tracker.created": _tracker_facts,
    "tracker.updated": _tracker_facts,
}
