"""Shippo's events as facts: one small function per topic, chosen through NORMALIZERS."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ordertrack.facts import Fact, ShipmentRef, TrackingFact, normalize_tracking_number
from ordertrack.providers.base import load
from ordertrack.providers.shippo.schemas import HANDLED_TOPICS
from ordertrack.providers.shippo.tables import REFINED, STATUSES, SUBSTATUSES
from ordertrack.statuses import ShipmentStatus


def status_of(status: str, substatus: str | None) -> ShipmentStatus:
    """The status's own meaning, refined by the substatus where the status is TRANSIT; an
    unknown status stays unknown whatever its substatus."""
    own = STATUSES.get(status, ShipmentStatus.UNKNOWN)
    if status != REFINED or not substatus:
        return own
    return SUBSTATUSES.get(substatus) or own


def normalize(topic: str, payload: Any, received_at: datetime) -> list[Fact]:
    return NORMALIZERS[topic](load(HANDLED_TOPICS[topic], payload, topic), received_at)


def _track_facts(event: dict, received_at: datetime) -> list[Fact]:
    """A track's status changed: its latest tracking status."""
    track = event["data"]
    latest = track["tracking_status"]
    substatus = (latest.get("substatus") or {}).get("code")
    return [
        TrackingFact(
            shipment=ShipmentRef(
                tracking_number=normalize_tracking_number(track["tracking_number"]),
                carrier=track["carrier"],
            ),
            status=status_of(latest["status"], substatus),
            # When the carrier scanned it (UTC); the record's update time only if Shippo
            # gives no scan time, as it may for UNKNOWN.
            occurred_at=latest.get("status_date") or latest.get("object_updated") or received_at,
            raw_status=latest["status"],
            detail=substatus,
            message=latest.get("status_details"),
            carrier=track["carrier"],
            est_delivery=track.get("eta"),
        )
    ]


NORMALIZERS: dict[str, Callable[[dict, datetime], list[Fact]]] = {"track_updated": _track_facts}
