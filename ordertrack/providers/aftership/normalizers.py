"""AfterShip's events as facts: one small function per topic, chosen through NORMALIZERS."""

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from ordertrack.facts import Fact, ShipmentRef, TrackingFact, normalize_tracking_number
from ordertrack.providers.aftership.schemas import HANDLED_TOPICS
from ordertrack.providers.aftership.tables import SUBTAGS, TAGS
from ordertrack.providers.base import load
from ordertrack.statuses import ShipmentStatus


def normalize(topic: str, payload: Any, received_at: datetime) -> list[Fact]:
    return NORMALIZERS[topic](load(HANDLED_TOPICS[topic], payload, topic), received_at)


def _tracking_facts(event: dict, received_at: datetime) -> list[Fact]:
    """A tracking changed: its status now, as of its newest placed checkpoint."""
    msg = event["msg"]
    checkpoints = msg["checkpoints"] or []
    placed = [(at, c) for c in checkpoints if (at := _placed(c.get("checkpoint_time")))]
    # The newest scan is when the status happened; `ts` is when AfterShip noticed.
    occurred_at, newest = max(placed, key=lambda pair: pair[0], default=(None, {}))
    carrier = msg.get("slug")
    return [
        TrackingFact(
            shipment=ShipmentRef(
                tracking_number=normalize_tracking_number(msg["tracking_number"]),
                carrier=carrier,
            ),
            status=status_of(msg["tag"], msg.get("subtag")),
            occurred_at=occurred_at or event.get("ts") or received_at,
            raw_status=msg["tag"],
            detail=msg.get("subtag"),
            message=msg.get("subtag_message") or newest.get("message"),
            carrier=carrier,
            est_delivery=_estimate(msg),
        )
    ]


def status_of(tag: str, subtag: str | None) -> ShipmentStatus:
    """The tag's status, unless the subtag is one of the tag's own and says more. A subtag of
    another tag contradicts the payload and decides nothing; an unknown tag stays unknown."""
    status = TAGS.get(tag, ShipmentStatus.UNKNOWN)
    if status is ShipmentStatus.UNKNOWN or not subtag or not subtag.startswith(f"{tag}_"):
        return status
    return SUBTAGS.get(subtag) or status


def _placed(value: str | None) -> datetime | None:
    """A checkpoint time in UTC. Carriers write the local time of the scan; with its offset it
    can be placed, without one (some carriers) the zone is unknown and guessing UTC would move
    the scan by hours against other sources, so it is skipped."""
    try:
        parsed = datetime.fromisoformat(value or "")
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None


def _day(value: str | None) -> date | None:
    """The calendar day as AfterShip wrote it: `YYYY-MM-DD`, with or without a time."""
    try:
        return date.fromisoformat((value or "")[:10])
    except ValueError:
        return None


def _estimate(msg: dict[str, Any]) -> date | None:
    """The newest estimate first (a range's upper end, the day not to be late by), then
    AfterShip's AI estimate, the carrier's own, and the field versions before 2024 used."""
    latest = msg.get("latest_estimated_delivery") or {}
    candidates = (
        latest.get("datetime") or latest.get("datetime_max"),
        (msg.get("aftership_estimated_delivery_date") or {}).get("estimated_delivery_date"),
        (msg.get("courier_estimated_delivery_date") or {}).get("estimated_delivery_date"),
        msg.get("expected_delivery"),
    )
    return next((day for day in map(_day, candidates) if day), None)


NORMALIZERS: dict[str, Callable[[dict, datetime], list[Fact]]] = {
    "tracking_update": _tracking_facts,
}
