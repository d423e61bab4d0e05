"""Carrier events that arrived before any order named their tracking number wait here, by
number, until a fulfillment names one of them (or the sweeper finds that one has)."""

from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ordertrack.store.inbox import insert_ignoring_duplicates
from ordertrack.store.models import Inbox, InboxStatus, Order, ParkedNumber, Shipment

#: The column's width; shipments' numbers are cut to the same width, so the two still match.
_WIDTH = ParkedNumber.__table__.c.tracking_number.type.length


def park(session: Session, row: Inbox, numbers: set[str]) -> None:
    """Mark the row parked, waiting for exactly these numbers."""
    row.status = InboxStatus.PARKED
    unpark(session, row.id)
    waiting = [{"inbox_id": row.id, "tracking_number": n[:_WIDTH]} for n in sorted(numbers)]
    table = ParkedNumber.__table__
    session.execute(insert_ignoring_duplicates(session.connection(), table), waiting)


def unpark(session: Session, inbox_id: int) -> None:
    session.execute(delete(ParkedNumber).where(ParkedNumber.inbox_id == inbox_id))


def release(session: Session, numbers: list[str]) -> list[int]:
    """Parked rows waiting for any of these numbers, made pending again; their ids."""
    if not numbers:
        return []
    waiting = select(ParkedNumber.inbox_id).where(
        ParkedNumber.tracking_number.in_([n[:_WIDTH] for n in numbers])
    )
    query = (
        update(Inbox)
        .where(Inbox.status == InboxStatus.PARKED, Inbox.id.in_(waiting))
        .values(status=InboxStatus.PENDING, touched_at=datetime.now(UTC))
        .returning(Inbox.id)
        .execution_options(synchronize_session=False)
    )
    return list(session.scalars(query))


def changed_since_parked(session: Session, limit: int = 500) -> list[int]:
    """Parked rows a shipment's number matches, on an order changed since the row was last
    looked at: a fulfillment that raced it. Only changes since then count, so an event its
    parcel does not claim (another carrier's, or from before a number was reused) is looked
    at again when that order next changes, not on every sweep."""
    changed = (
        select(ParkedNumber.inbox_id)
        .join(Shipment, Shipment.tracking_number == ParkedNumber.tracking_number)
        .join(Order, Order.id == Shipment.order_id)
        .where(ParkedNumber.inbox_id == Inbox.id, Order.updated_at > Inbox.touched_at)
    )
    query = (
        select(Inbox.id)
        .where(Inbox.status == InboxStatus.PARKED, changed.exists())
        .limit(limit)
        # A row a worker holds is being applied right now: left, never waited for.
        .with_for_update(skip_locked=True, of=Inbox)
    )
    return list(session.scalars(query))
