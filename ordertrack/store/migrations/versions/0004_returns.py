"""returns: a customer's request, its items and every step of its line

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 18:30:00
"""

import sqlalchemy as sa
from alembic import op

import ordertrack.store.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = ordertrack.store.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "returns",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column(
            "order_id",
            Id,
            sa.ForeignKey("orders.id", name="fk_returns_order_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("comment", sa.Text()),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.Column("tracking_number", sa.String(length=64)),
        sa.Column("carrier", sa.String(length=64)),
        sa.Column("note", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_returns"),
    )
    op.create_index("ix_returns_order_id", "returns", ["order_id"])
    op.create_index("ix_returns_created_at", "returns", ["created_at"])
    op.create_table(
        "return_items",
        sa.Column(
            "return_id",
            Id,
            sa.ForeignKey("returns.id", name="fk_return_items_return_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("line_item_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("return_id", "line_item_id", name="pk_return_items"),
    )
    op.create_table(
        "return_events",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column(
            "return_id",
            Id,
            sa.ForeignKey("returns.id", name="fk_return_events_return_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", When, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("actor", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_return_events"),
    )
    op.create_index("ix_return_events_return_id", "return_events", ["return_id"])


def downgrade() -> None:
    op.drop_index("ix_return_events_return_id", table_name="return_events")
    op.drop_table("return_events")
    op.drop_table("return_items")
    op.drop_index("ix_returns_created_at", table_name="returns")
    op.drop_index("ix_returns_order_id", table_name="returns")
    op.drop_table("returns")
