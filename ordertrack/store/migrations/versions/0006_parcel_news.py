"""per-parcel news: the outbox's once-only key names the parcel; a parcel's failed attempts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 09:00:00

Existing rows keep their meaning: they get the empty parcel, which is what an order's own
news (cancelled, refunded, a new tracking number, a return's step) is keyed by.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(
            sa.Column("parcel", sa.String(length=80), nullable=False, server_default="")
        )
        batch.drop_constraint("uq_outbox_once", type_="unique")
        batch.create_unique_constraint(
            "uq_outbox_once", ["order_id", "parcel", "kind", "channel", "recipient"]
        )
    with op.batch_alter_table("shipments") as batch:
        batch.add_column(sa.Column("failed_attempts", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shipments") as batch:
        batch.drop_column("failed_attempts")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("uq_outbox_once", type_="unique")
        batch.create_unique_constraint(
            "uq_outbox_once", ["order_id", "kind", "channel", "recipient"]
        )
        batch.drop_column("parcel")
