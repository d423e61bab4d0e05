"""Delivered parcels as learned estimates see them, one row each, kept by the periodic job
(ordertrack/estimate_rollup.py): the lane, the first scan, the business days in transit,
and whether it came by the p90 date of the estimate it would have had at its first scan.

The estimates report reads these narrow rows, and their counts per day (`EstimateDay`),
instead of each carrier's deliveries with their first scans from the history: that read
costs about half a second per carrier with a million orders, far over a report's budget.
A module of its own beside models.py, which imports it so that Alembic's metadata has it.
"""

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ordertrack.store.models import Base, Id


class LaneDelivery(Base):
    __tablename__ = "lane_deliveries"
    __table_args__ = (
        # A carrier's newest deliveries: the lanes it teaches, and what judges a new one.
        Index("ix_lane_deliveries_carrier", "carrier", "delivered_at"),
    )

    shipment_id: Mapped[int] = mapped_column(
        ForeignKey("shipments.id", ondelete="CASCADE"), primary_key=True
    )
    #: Lower case, as lanes are matched.
    carrier: Mapped[str] = mapped_column(String(64))
    country: Mapped[str | None] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(8))
    #: The postcode's first characters (lanes.postcode_prefix).
    prefix: Mapped[str | None] = mapped_column(String(8))
    first_scan_at: Mapped[datetime]
    delivered_at: Mapped[datetime]
    #: Business days from the first scan to the delivery, in the shop's calendar then.
    transit_days: Mapped[int] = mapped_column(Integer)
    #: Delivered by the p90 date of its learned estimate; null: it had none (too few
    #: deliveries on any of its lanes before its first scan).
    on_time: Mapped[bool | None] = mapped_column(Boolean)


class EstimateDay(Base):
    """The judged deliveries of a UTC day by carrier, counted as they are written: what the
    report's accuracy sums over a period, a row per day and carrier however busy."""

    __tablename__ = "estimate_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    carrier: Mapped[str] = mapped_column(String(64), primary_key=True)
    on_time: Mapped[int] = mapped_column(Integer)
    judged: Mapped[int] = mapped_column(Integer)


class RollupMark(Base):
    """How far a periodic job has read, in time: here, the last delivery (its time, then its
    parcel's id) the estimates job judged, so each delivery is judged once."""

    __tablename__ = "rollup_marks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime]
    position: Mapped[int] = mapped_column(Id)
