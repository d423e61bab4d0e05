"""delay flags: an order or parcel later than it should be, from when until it cleared

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-15 09:00:00

One open flag per (order, parcel, kind): a unique index over the open rows only, so a delay
that clears and comes back is a new row.
"""

import sqlalchemy as sa
from alembic import op

import ordertrack.store.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = ordertrack.store.models.UTCDateTime(timezone=True)
OPEN = sa.text("cleared_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "delay_flags",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("order_id", Id, nullable=False),
        sa.Column("parcel", sa.String(length=80), server_default="", nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("since", When, nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("cleared_at", When),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_delay_flags_order_id_orders", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_delay_flags"),
    )
    op.create_index(
        "uq_delay_flags_open",
        "delay_flags",
        ["order_id", "parcel", "kind"],
        unique=True,
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    op.create_index(
        "ix_delay_flags_open_since",
        "delay_flags",
        ["since"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    op.create_index("ix_delay_flags_order", "delay_flags", ["order_id"])


def downgrade() -> None:
    op.drop_index("ix_delay_flags_order", table_name="delay_flags")
    op.drop_index("ix_delay_flags_open_since", table_name="delay_flags")
    op.drop_index("uq_delay_flags_open", table_name="delay_flags")
    op.drop_table("delay_flags")
