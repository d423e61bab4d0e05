"""milestones: each order's and parcel's first scan, delivery and the like, kept on its row

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 11:00:00

The performance reports and the delay check read when an order was placed, shipped, first
scanned and delivered, and when a parcel was first scanned, delivered, failed an attempt or
hit an exception. Reading those out of the history cost seconds per report on a large shop;
the pipeline now keeps them on the rows (ordertrack/store/milestones.py), and this fills
them for rows written before, from the history already stored.
"""

import sqlalchemy as sa
from alembic import op

from ordertrack.store import milestones

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
    # The period's stage durations come from the index alone on PostgreSQL.
    op.drop_index("ix_orders_created", table_name="orders")
    op.create_index(
        "ix_orders_created", "orders", ["created_at"], postgresql_include=list(ORDER_COLUMNS)
    )


def downgrade() -> None:
    op.drop_index("ix_orders_created", table_name="orders")
    op.create_index("ix_orders_created", "orders", ["created_at"])
    for column in PARCEL_COLUMNS:
        op.drop_column("shipments", column)
    for column in ORDER_COLUMNS:
        op.drop_column("orders", column)
