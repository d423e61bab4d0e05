"""report indexes: the performance reports select a period by these times

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-20 09:00:00

Each report (ordertrack/store/reports.py) is bounded by its period on one time column; an
index on it keeps a report's cost to the period's rows, not the table's.
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_orders_created", "orders", "created_at"),
    ("ix_outbox_created", "outbox", "created_at"),
    ("ix_delay_flags_created", "delay_flags", "created_at"),
    ("ix_delay_flags_cleared", "delay_flags", "cleared_at"),
)


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
