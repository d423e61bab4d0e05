"""Daily rollups of the performance reports (store/rollups.py keeps them). A module of its
own beside models.py, which imports it so that Alembic's metadata has it.

Every table is keyed by the UTC day the order reached us (`orders.created_at`, which never
changes), so a report over a period reads a few rows per day instead of every order."""

from datetime import date

from sqlalchemy import Date, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ordertrack.store.models import Base


def _key(kind=None):
    return mapped_column(kind if kind is not None else String(32), primary_key=True)


def _count():
    return mapped_column(Integer, default=0, server_default="0")


def _sum():
    return mapped_column(Float, default=0.0, server_default="0")


class OrderDay(Base):
    """Orders by their status now: the funnel."""

    __tablename__ = "report_order_days"

    day: Mapped[date] = _key(Date)
    status: Mapped[str] = _key()
    orders: Mapped[int] = _count()


class StageBucket(Base):
    """Stage durations in hours, as a log-bucket histogram with the sum of each bucket."""

    __tablename__ = "report_stage_buckets"

    day: Mapped[date] = _key(Date)
    stage: Mapped[str] = _key()
    bucket: Mapped[int] = _key(Integer)
    orders: Mapped[int] = _count()
    hours: Mapped[float] = _sum()


class ParcelDay(Base):
    """A carrier's parcels to one destination region: the scorecard's counts."""

    __tablename__ = "report_parcel_days"

    day: Mapped[date] = _key(Date)
    carrier: Mapped[str] = _key(String(64))
    country: Mapped[str] = _key(String(2))
    region: Mapped[str] = _key(String(8))
    parcels: Mapped[int] = _count()
    delivered: Mapped[int] = _count()
    estimated: Mapped[int] = _count()
    on_time: Mapped[int] = _count()
    first_attempt: Mapped[int] = _count()
    exceptions: Mapped[int] = _count()


class TransitBucket(Base):
    """Days from first scan to delivered, per carrier and region, as a histogram."""

    __tablename__ = "report_transit_buckets"

    day: Mapped[date] = _key(Date)
    carrier: Mapped[str] = _key(String(64))
    country: Mapped[str] = _key(String(2))
    region: Mapped[str] = _key(String(8))
    bucket: Mapped[int] = _key(Integer)
    parcels: Mapped[int] = _count()
    days: Mapped[float] = _sum()


class ProductDay(Base):
    """Items ordered per product title: the denominator of a product's return rate."""

    __tablename__ = "report_product_days"

    day: Mapped[date] = _key(Date)
    title: Mapped[str] = _key(String(200))
    ordered: Mapped[int] = _count()


#: Every rollup table, in the order changes are written (one order: no deadlocks).
TABLES = (OrderDay, StageBucket, ParcelDay, TransitBucket, ProductDay)
