"""FedEx's pushes as facts: one small function per topic, chosen through NORMALIZERS."""

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from ordertrack.facts import Fact, ShipmentRef, TrackingFact, normalize_tracking_number
from ordertrack.providers.base import load
from ordertrack.providers.fedex.schemas import HANDLED_TOPICS
from ordertrack.providers.fedex.tables import CARRIER, STATUSES, TOPIC
from ordertrack.statuses import ShipmentStatus


def normalize(topic: str, payload: Any, received_at: datetime) -> list[Fact]:
    return NORMALIZERS[topic](load(HANDLED_TOPICS[topic], payload, topic), received_at)


def _push_facts(push: dict, received_at: datetime) -> list[Fact]:
    """One fact per package the push reports."""
    return [_fact(number, result, received_at) for number, result in results(push)]


def results(push: dict) -> list[tuple[str, dict]]:
    """Each package with its tracking number: its own `trackingNumberInfo`, else the group's."""
    return [
        (
            normalize_tracking_number(
                result["trackingNumberInfo"].get("trackingNumber") or group["trackingNumber"]
            ),
            result,
        )
        for group in push["output"]["completeTrackResults"]
        for result in group["trackResults"]
    ]


def _fact(number: str, result: dict, received_at: datetime) -> TrackingFact:
    status = result["latestStatusDetail"]
    code = status["code"].strip()
    scan = newest_scan(result)
    reason, reason_text = _reason(status, scan)
    description = status.get("description") or (scan or {}).get("eventDescription")
    return TrackingFact(
        shipment=ShipmentRef(tracking_number=number, carrier=CARRIER),
        status=STATUSES.get(code, ShipmentStatus.UNKNOWN),
        # The newest scan is when it happened; FedEx gives the summary itself no time.
        occurred_at=scan["date"] if scan else received_at,
        raw_status=code,
        detail=reason,
        message=": ".join(dict.fromkeys(filter(None, (description, reason_text)))) or None,
        carrier=CARRIER,
        est_delivery=_estimate(result),
    )


def newest_scan(result: dict) -> dict | None:
    # FedEx lists scans newest first; the newest by time wins whatever the order.
    return max(result["scanEvents"], key=lambda scan: scan["date"], default=None)


def _reason(status: dict, scan: dict | None) -> tuple[str | None, str | None]:
    """FedEx's reason for the status (an exception or hold code and its text, e.g. "015A"
    package available for pickup): the summary's first ancillary detail, else the newest
    scan's exception (a delivery scan's may be only a text: "Left at front door")."""
    for detail in status["ancillaryDetails"]:
        if detail.get("reason"):
            return detail["reason"], detail.get("reasonDescription") or None
    if scan:
        return scan.get("exceptionCode") or None, scan.get("exceptionDescription") or None
    return None, None


def _estimate(result: dict) -> date | None:
    """The day FedEx expects to deliver, as written: `ESTIMATED_DELIVERY` among `dateAndTimes`,
    else the end (or start) of the estimated delivery time window."""
    for entry in result["dateAndTimes"]:
        if entry.get("type") == "ESTIMATED_DELIVERY" and entry.get("dateTime"):
            return entry["dateTime"]
    window = (result.get("estimatedDeliveryTimeWindow") or {}).get("window") or {}
    return window.get("ends") or window.get("begins")


NORMALIZERS: dict[str, Callable[[dict, datetime], list[Fact]]] = {TOPIC: _push_facts}
