"""delay check write path: delay flags without a foreign key, and partial indexes where most
rows hold NULL

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 15:00:00

A first delay check over a large shop opens hundreds of thousands of flags in one go. Each
row's foreign-key check (a query and a row lock per flag, on an order the check has just
locked itself) cost PostgreSQL as much as the insert, and ordertrack never deletes an order;
the check and the pipeline write flags only for orders they hold locked. The index on when a
flag cleared, and the one on a message's provider id (texts only), now skip the NULLs that
every open flag and every email has: the queries that use them ask for a value.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

FK = "fk_delay_flags_order_id_orders"
PARTIAL = (
    ("ix_delay_flags_cleared", "delay_flags", "cleared_at"),
    ("ix_outbox_provider_message_id", "outbox", "provider_message_id"),
)


def upgrade() -> None:
    with op.batch_alter_table("delay_flags") as batch:
        batch.drop_constraint(FK, type_="foreignkey")
    for name, table, column in PARTIAL:
        op.drop_index(name, table_name=table)
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, table, [column], postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    for name, table, column in PARTIAL:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, [column])
    with op.batch_alter_table("delay_flags") as batch:
        batch.create_foreign_key(FK, "orders", ["order_id"], ["id"], ondelete="CASCADE")
