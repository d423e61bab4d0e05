"""lane deliveries: delivered parcels as learned estimates see them, and the judged ones
counted per day, kept by a periodic job

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-22 09:00:00

The estimates report reads these narrow rows instead of each carrier's deliveries with their
first scans from the history (store/estimate_models.py says why); `rollup_marks` holds the
last delivery the job judged (its time and parcel), so each delivery is judged once.
"""

import sqlalchemy as sa
from alembic import op

import ordertrack.store.models

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = ordertrack.store.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lane_deliveries",
        sa.Column("shipment_id", Id, nullable=False),
        sa.Column("carrier", sa.String(length=64), nullable=False),
        sa.Column("country", sa.String(length=2)),
        sa.Column("region", sa.String(length=8)),
        sa.Column("prefix", sa.String(length=8)),
        sa.Column("first_scan_at", When, nullable=False),
        sa.Column("delivered_at", When, nullable=False),
        sa.Column("transit_days", sa.Integer(), nullable=False),
        sa.Column("on_time", sa.Boolean()),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name="fk_lane_deliveries_shipment_id_shipments",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("shipment_id", name="pk_lane_deliveries"),
    )
    op.create_index("ix_lane_deliveries_carrier", "lane_deliveries", ["carrier", "delivered_at"])
    op.create_table(
        "estimate_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("carrier", sa.String(length=64), nullable=False),
        sa.Column("on_time", sa.Integer(), nullable=False),
        sa.Column("judged", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "carrier", name="pk_estimate_days"),
    )
    op.create_table(
        "rollup_marks",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("at", When, nullable=False),
        sa.Column("position", Id, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_rollup_marks"),
    )


def downgrade() -> None:
    op.drop_table("rollup_marks")
    op.drop_table("estimate_days")
    op.drop_index("ix_lane_deliveries_carrier", table_name="lane_deliveries")
    op.drop_table("lane_deliveries")
