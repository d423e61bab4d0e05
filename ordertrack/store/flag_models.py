"""Delay flags: an order or parcel later than it should be (ordertrack/delays.py says when).
A module of its own beside models.py, which imports it so that Alembic's metadata has it."""

from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ordertrack.store.models import Base, Id

#: Only the open flags: one per (order, parcel, kind) at a time, and the attention list.
_OPEN = text("cleared_at IS NULL")
#: Only the cleared ones: what the delays report counts by when they cleared.
_CLEARED = text("cleared_at IS NOT NULL")


class DelayFlag(Base):
    """One delay, from when its deadline passed until it cleared. A delay that clears and
    comes back is a new row: a new delay, told afresh."""

    __tablename__ = "delay_flags"
    __table_args__ = (
        Index(
            "uq_delay_flags_open",
            "order_id",
            "parcel",
            "kind",
            unique=True,
            postgresql_where=_OPEN,
            sqlite_where=_OPEN,
        ),
        Index("ix_delay_flags_open_since", "since", postgresql_where=_OPEN, sqlite_where=_OPEN),
        Index("ix_delay_flags_order", "order_id"),
        # The delays report: flags raised, and flags cleared, in a period.
        Index("ix_delay_flags_created", "created_at"),
        Index(
            "ix_delay_flags_cleared",
            "cleared_at",
            postgresql_where=_CLEARED,
            sqlite_where=_CLEARED,
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    #: No foreign key: the check opens flags by the hundred thousand, only for orders it holds
    #: locked, and orders are never deleted (migration 0015 says what the check cost).
    order_id: Mapped[int] = mapped_column(Id)
    #: The shipment's key, or "" for the order's own flag (not_shipped).
    parcel: Mapped[str] = mapped_column(String(80), default="", server_default="")
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    #: When the deadline passed (not when the check noticed).
    since: Mapped[datetime]
    #: When the check raised it: what the digest lists as new.
    created_at: Mapped[datetime]
    cleared_at: Mapped[datetime | None]


class FlagDay(Base):
    """Flags raised and cleared per UTC day and kind, kept as flags open and clear: the
    delays report and the open counts (report, console, metrics) read a few rows per day
    instead of every flag, which a first check over a large shop raises by the 100,000.
    What is open now is what was raised less what cleared, summed over the days."""

    __tablename__ = "delay_flag_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    raised: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cleared: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
