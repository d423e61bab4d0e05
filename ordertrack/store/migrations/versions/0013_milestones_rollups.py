"""milestones and report rollups: first scan, delivery and the like on each order and parcel
row, and the performance reports' daily rollups

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 11:00:00

The performance reports and the delay check read when an order was placed, shipped, first
scanned and delivered, and when a parcel was first scanned, delivered, failed an attempt or
hit an exception. Reading those out of the history cost seconds per report on a large shop;
the pipeline now keeps them on the rows (ordertrack/store/milestones.py), and this fills
them for rows written before, from the history already stored. The reports then read daily
rollups (ordertrack/store/rollups.py), built here from those rows.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

from ordertrack.store import milestones, rollups

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ORDER_COLUMNS = ("placed_at", "shipped_at", "first_scan_at", "delivered_at")
PARCEL_COLUMNS = ("first_scan_at", "delivered_at", "first_failed_at", "first_exception_at")


def upgrade() -> None:
    for column in ORDER_COLUMNS:
        op.add_column("orders", sa.Column(column, sa.DateTime(timezone=True), nullable=True))
    for column in PARCEL_COLUMNS:
        op.add_column("shipments", sa.Column(column, sa.DateTime(timezone=True), nullable=True))
    milestones.backfill(op.get_bind())
    _create_rollups()
    with Session(bind=op.get_bind()) as session:
        rollups.rebuild(session)
    # The notifications report reads a period's messages from the index alone (PostgreSQL).
    op.drop_index("ix_outbox_created", table_name="outbox")
    op.create_index(
        "ix_outbox_created", "outbox", ["created_at"], postgresql_include=["channel", "status"]
    )


def _key(name: str, kind=None) -> sa.Column:
    return sa.Column(name, kind if kind is not None else sa.String(32), primary_key=True)


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer, nullable=False, server_default="0")


def _sum(name: str) -> sa.Column:
    return sa.Column(name, sa.Float, nullable=False, server_default="0")


def _lane(*more: sa.Column) -> tuple[sa.Column, ...]:
    return (
        _key("day", sa.Date),
        _key("carrier", sa.String(64)),
        _key("country", sa.String(2)),
        _key("region", sa.String(8)),
        *more,
    )


def _create_rollups() -> None:
    op.create_table("report_order_days", _key("day", sa.Date), _key("status"), _count("orders"))
    op.create_table(
        "report_stage_buckets", _key("day", sa.Date), _key("stage"), _key("bucket", sa.Integer),
        _count("orders"), _sum("hours"),
    )  # fmt: skip
    counts = ("parcels", "delivered", "estimated", "on_time", "first_attempt", "exceptions")
    op.create_table("report_parcel_days", *_lane(*map(_count, counts)))
    op.create_table(
        "report_transit_buckets",
        *_lane(_key("bucket", sa.Integer), _count("parcels"), _sum("days")),
    )
    op.create_table(
        "report_product_days", _key("day", sa.Date), _key("title", sa.String(200)),
        _count("ordered"),
    )  # fmt: skip


ROLLUPS = (
    "report_order_days",
    "report_stage_buckets",
    "report_parcel_days",
    "report_transit_buckets",
    "report_product_days",
)


def downgrade() -> None:
    op.drop_index("ix_outbox_created", table_name="outbox")
    op.create_index("ix_outbox_created", "outbox", ["created_at"])
    for table in ROLLUPS:
        op.drop_table(table)
    for column in PARCEL_COLUMNS:
        op.drop_column("shipments", column)
    for column in ORDER_COLUMNS:
        op.drop_column("orders", column)
