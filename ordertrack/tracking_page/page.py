"""The customer's tracking page as data: what the order's state and history say, in words a
customer understands, with times in the customer's zone. Pure: no database, no HTTP. The
service renders it (service/templates/tracking/); ordertrack/tracking_page/__init__.py reads it."""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from ordertrack.facts import carrier_code
from ordertrack.lanes import Learned
from ordertrack.lifecycle.state import OrderState, ShipmentState
from ordertrack.lifecycle.wording import progress_summary
from ordertrack.notifications.messages import CARRIER_NAMES, default_tracking_url
from ordertrack.statuses import OrderStatus, ShipmentStatus
from ordertrack.tracking_page.words import (
    FULFILLMENT_WORDS,
    ORDER_EVENT_WORDS,
    SHIPMENT_WORDS,
    STATUS_WORDS,
)

STEPS = ("Received", "Processing", "Shipped", "Delivered", "Completed")
#: Where each status sits on the five steps; a detour is shown at the step it happens in.
STEP_OF: dict[OrderStatus, int] = {
    OrderStatus.RECEIVED: 0,
    OrderStatus.PROCESSING: 1,
    OrderStatus.ON_HOLD: 1,
    OrderStatus.SHIPPED: 2,
    OrderStatus.IN_TRANSIT: 2,
    OrderStatus.OUT_FOR_DELIVERY: 2,
    OrderStatus.DELIVERY_FAILED: 2,
    OrderStatus.AVAILABLE_FOR_PICKUP: 2,
    OrderStatus.EXCEPTION: 2,
    OrderStatus.RETURNED: 2,  # the journey ended, but not at the customer's door
    OrderStatus.DELIVERED: 3,
    OrderStatus.COMPLETED: 4,
}
#: Cancelled and refunded orders stop where they had got to (the lifecycle's stages 0-6).
_STEP_OF_STAGE = (0, 1, 2, 2, 2, 3, 4)
DETOURS = frozenset(
    {
        OrderStatus.ON_HOLD,
        OrderStatus.DELIVERY_FAILED,
        OrderStatus.AVAILABLE_FOR_PICKUP,
        OrderStatus.EXCEPTION,
        OrderStatus.RETURNED,
        OrderStatus.CANCELLED,
        OrderStatus.REFUNDED,
    }
)

DEFAULT_BRAND_COLOR = "#1f4e79"
_HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")


@dataclass(frozen=True)
class Step:
    label: str
    #: "done", "current" or "todo".
    state: str
    #: What went off the main line at this step ("Delivery attempt failed"), if anything.
    detour: str | None = None


@dataclass(frozen=True)
class HistoryEntry:
    """One row of the order's history, as the timeline needs it."""

    occurred_at: datetime
    kind: str
    status: str | None
    shipment_key: str | None = None


@dataclass(frozen=True)
class TimelineEntry:
    text: str
    at: datetime
    #: The time as the customer reads it, in their zone ("Wed 4 Nov 2026, 10:12 EST").
    when: str


@dataclass(frozen=True)
class ShipmentView:
    carrier: str
    tracking_number: str | None
    link: str | None
    status: str
    estimate: str | None
    #: Set when the estimate is learned from the shop's deliveries, not the carrier's.
    estimate_note: str | None


@dataclass(frozen=True)
class TrackingView:
    order_name: str
    status: str
    headline: str
    explanation: str
    progress: str | None
    steps: tuple[Step, ...]
    shipments: tuple[ShipmentView, ...]
    timeline: tuple[TimelineEntry, ...]
    updated_at: datetime


def steps(status: OrderStatus, furthest_stage: int) -> tuple[Step, ...]:
    """The five steps, those reached done, the last reached current, with any detour on it."""
    current = STEP_OF.get(status)
    if current is None:  # cancelled or refunded: where the order had got to
        current = _STEP_OF_STAGE[min(max(furthest_stage, 0), len(_STEP_OF_STAGE) - 1)]
    detour = STATUS_WORDS[status][0] if status in DETOURS else None
    return tuple(
        Step(
            label,
            "done" if i < current else "current" if i == current else "todo",
            detour if i == current else None,
        )
        for i, label in enumerate(STEPS)
    )


def carrier_name(carrier: str | None) -> str:
    if not carrier:
        return "Carrier"
    return CARRIER_NAMES.get(carrier_code(carrier) or "", " ".join(carrier.split()))


def format_time(at: datetime, zone: ZoneInfo) -> str:
    local = at.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} {local.tzname()}"


def format_day(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B}"


def timeline(
    entries: Iterable[HistoryEntry], zone: ZoneInfo, parcels: Mapping[str, str]
) -> tuple[TimelineEntry, ...]:
    """Newest first, one line per status, parcel and time (platform and carrier often report
    one scan each); facts the customer would not understand (unknown codes) are left out.
    `parcels` names each shipment key's carrier when the order has several parcels."""
    seen: set[tuple] = set()
    lines = []
    for entry in sorted(entries, key=lambda e: e.occurred_at, reverse=True):
        text = _event_words(entry)
        key = (entry.status, entry.shipment_key, entry.occurred_at)
        if text is None or key in seen:
            continue
        seen.add(key)
        if entry.shipment_key in parcels:
            text = f"{text} ({parcels[entry.shipment_key]})"
        lines.append(TimelineEntry(text, entry.occurred_at, format_time(entry.occurred_at, zone)))
    return tuple(lines)


def _event_words(entry: HistoryEntry) -> str | None:
    if entry.kind == "order":
        return ORDER_EVENT_WORDS.get(entry.status or "")
    if entry.kind == "fulfillment":
        return FULFILLMENT_WORDS.get(entry.status or "")
    if entry.status in SHIPMENT_WORDS and entry.status != ShipmentStatus.UNKNOWN:
        return SHIPMENT_WORDS[ShipmentStatus(entry.status)]
    return None


def estimate(
    shipment: ShipmentState, learned: Learned | None, today: date
) -> tuple[str | None, str | None]:
    """(estimate, note): the carrier's date, or else the dates learned from the shop's past
    deliveries on the parcel's lane, labelled as such (also once the carrier's date has
    passed, as the new estimate). None once delivered or out of date."""
    if shipment.status is ShipmentStatus.DELIVERED:
        return None, None
    ahead = learned is not None and learned.last >= today
    if shipment.est_delivery and (shipment.est_delivery >= today or not ahead):
        return f"Expected {format_day(shipment.est_delivery)}", None
    if learned is None or not ahead:
        return None, None
    note = f"estimated from past deliveries with {carrier_name(shipment.carrier)}"
    if learned.first == learned.last:
        return f"Expected {format_day(learned.first)}", note
    return f"Expected between {format_day(learned.first)} and {format_day(learned.last)}", note


def shipment_view(shipment: ShipmentState, learned: Learned | None, today: date) -> ShipmentView:
    words, note = estimate(shipment, learned, today)
    return ShipmentView(
        carrier=carrier_name(shipment.carrier or shipment.reported_carrier),
        tracking_number=shipment.tracking_number,
        link=default_tracking_url(shipment),
        status=SHIPMENT_WORDS[shipment.status],
        estimate=words,
        estimate_note=note,
    )


def build(
    state: OrderState,
    history: Iterable[HistoryEntry],
    *,
    zone: ZoneInfo,
    updated_at: datetime,
    today: date,
    learned: Mapping[str, Learned] | None = None,
) -> TrackingView:
    """The page's content. `learned` holds learned estimates by shipment key."""
    learned = learned or {}
    live = [s for s in state.shipments if s.live]
    parcels = {s.key: carrier_name(s.carrier or s.reported_carrier) for s in live}
    headline, explanation = STATUS_WORDS[state.status]
    return TrackingView(
        order_name=state.name or "Your order",
        status=state.status.value,
        headline=headline,
        explanation=explanation,
        progress=progress_summary(state),
        steps=steps(state.status, state.furthest_stage),
        shipments=tuple(shipment_view(s, learned.get(s.key), today) for s in live),
        timeline=timeline(history, zone, parcels if len(live) > 1 else {}),
        updated_at=updated_at,
    )


def brand_colors(value: str | None) -> tuple[str, str]:
    """(background, text): the shop's colour when it is #rgb or #rrggbb (anything else could
    break out of the style sheet), and black or white text, whichever contrasts more."""
    color = value.strip() if value else ""
    if not _HEX_COLOR.fullmatch(color):
        color = DEFAULT_BRAND_COLOR
    digits = color[1:] if len(color) == 7 else "".join(c * 2 for c in color[1:])
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    # Contrast with white is 1.05 / (L + 0.05); with black (L + 0.05) / 0.05.
    white_text = 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.05
    return color.lower(), "#ffffff" if white_text else "#000000"
