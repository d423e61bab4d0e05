"""Milestone times, kept on the order and parcel rows as history is written: when the order
was placed, shipped, first scanned and delivered, and when each parcel was first scanned,
delivered, first failed an attempt and first hit an exception.

Why: the performance reports and the delay check need these per order and per parcel, and
reading them out of the history (five rows per order and growing) made a report over a
period of a million-order shop take seconds. Each time is the earliest the history holds,
so keeping it is `min(kept, new)`: commutative and idempotent, like the history itself, and
a replay or a late, older report gives the same columns as the backfill below.
"""

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ordertrack.store.models import Order

#: A carrier status that means the carrier has the parcel in hand (its first scan).
SCANNED = (
    "in_transit",
    "out_for_delivery",
    "delivery_failed",
    "available_for_pickup",
    "exception",
    "delivered",
)
#: A tracking status -> the parcel's column it may set (besides first_scan_at).
_PARCEL_COLUMNS = {
    "delivered": "delivered_at",
    "delivery_failed": "first_failed_at",
    "exception": "first_exception_at",
}


def _earliest(row, column: str, at: datetime) -> None:
    kept = getattr(row, column)
    if kept is None or at < kept:
        setattr(row, column, at)


def record(order: Order, entries: Iterable[dict]) -> None:
    """Fold new history entries (pipeline's rows, as dicts) into the order's and its parcels'
    milestone columns. The order's shipments are already saved (same transaction)."""
    parcels = {row.key: row for row in order.shipments}
    if order.placed_at is None:
        order.placed_at = order.created_at
    for entry in entries:
        kind, status, at = entry["kind"], entry["status"], entry["occurred_at"]
        if kind == "order":
            _earliest(order, "placed_at", at)
        elif kind == "fulfillment" and status == "fulfilled":
            _earliest(order, "shipped_at", at)
        if kind != "tracking" or status not in SCANNED:
            continue
        _earliest(order, "first_scan_at", at)
        if status == "delivered":
            _earliest(order, "delivered_at", at)
        parcel = parcels.get(entry["shipment_key"])
        if parcel is None:
            continue
        _earliest(parcel, "first_scan_at", at)
        if status in _PARCEL_COLUMNS:
            _earliest(parcel, _PARCEL_COLUMNS[status], at)


def _first(condition: str) -> str:
    return f"MIN(CASE WHEN {condition} THEN occurred_at END)"


_SCANNED_SQL = ", ".join(f"'{status}'" for status in SCANNED)

#: The same times, set-based from the whole history: migration 0013 fills existing rows with
#: it, and bench data generated straight into the tables is completed by it. Plain SQL that
#: PostgreSQL and SQLite (3.33+, UPDATE ... FROM) both run. Built from constants only.
BACKFILL = (
    f"""
    UPDATE orders SET
        placed_at = CASE WHEN m.placed < orders.created_at THEN m.placed
                         ELSE orders.created_at END,
        shipped_at = m.shipped, first_scan_at = m.scanned, delivered_at = m.delivered
    FROM (
        SELECT order_id,
            {_first("kind = 'order'")} AS placed,
            {_first("kind = 'fulfillment' AND status = 'fulfilled'")} AS shipped,
            {_first(f"kind = 'tracking' AND status IN ({_SCANNED_SQL})")} AS scanned,
            {_first("kind = 'tracking' AND status = 'delivered'")} AS delivered
        FROM history GROUP BY order_id
    ) AS m
    WHERE m.order_id = orders.id
    """,  # noqa: S608
    "UPDATE orders SET placed_at = created_at WHERE placed_at IS NULL",
    f"""
    UPDATE shipments SET
        first_scan_at = m.scanned, delivered_at = m.delivered,
        first_failed_at = m.failed, first_exception_at = m.exception
    FROM (
        SELECT order_id, shipment_key,
            {_first(f"status IN ({_SCANNED_SQL})")} AS scanned,
            {_first("status = 'delivered'")} AS delivered,
            {_first("status = 'delivery_failed'")} AS failed,
            {_first("status = 'exception'")} AS exception
        FROM history WHERE kind = 'tracking' AND shipment_key IS NOT NULL
        GROUP BY order_id, shipment_key
    ) AS m
    WHERE m.order_id = shipments.order_id AND m.shipment_key = shipments.key
    """,  # noqa: S608
)


def backfill(connection: Connection) -> None:
    """Set every row's milestones from the history already stored."""
    for statement in BACKFILL:
        connection.execute(text(statement))
