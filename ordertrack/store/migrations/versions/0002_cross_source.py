"""cross-source rules: when a parcel got its tracking number, the carrier as reported, the
platform's list of an order's fulfillments, and every number a parked event waits for

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 17:55:00
"""

import sqlalchemy as sa
from alembic import op

import ordertrack.store.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shipments") as batch:
        batch.add_column(
            sa.Column("labelled_at", ordertrack.store.models.UTCDateTime(timezone=True))
        )
        batch.add_column(sa.Column("reported_carrier", sa.String(length=64)))
        batch.add_column(
            sa.Column("removed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # A number's life here starts when the platform first gave it; for shipments stored
    # before, the newest report is the best there is.
    op.execute("UPDATE shipments SET labelled_at = fulfilled_at WHERE tracking_number IS NOT NULL")
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("fulfillment_list", sa.JSON()))
        batch.add_column(
            sa.Column("fulfillment_list_at", ordertrack.store.models.UTCDateTime(timezone=True))
        )
    op.create_table(
        "parked_numbers",
        sa.Column(
            "inbox_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey("inbox.id", name="fk_parked_numbers_inbox_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("tracking_number", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("inbox_id", "tracking_number", name="pk_parked_numbers"),
    )
    op.create_index("ix_parked_numbers_tracking_number", "parked_numbers", ["tracking_number"])
    op.execute(
        "INSERT INTO parked_numbers (inbox_id, tracking_number)"
        " SELECT id, parked_tracking_number FROM inbox"
        " WHERE status = 'parked' AND parked_tracking_number IS NOT NULL"
    )
    op.drop_index("ix_inbox_parked_tracking", table_name="inbox")
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("parked_tracking_number")


def downgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("parked_tracking_number", sa.String(length=64)))
    op.create_index("ix_inbox_parked_tracking", "inbox", ["parked_tracking_number"])
    op.drop_index("ix_parked_numbers_tracking_number", table_name="parked_numbers")
    op.drop_table("parked_numbers")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("fulfillment_list_at")
        batch.drop_column("fulfillment_list")
    with op.batch_alter_table("shipments") as batch:
        batch.drop_column("removed")
        batch.drop_column("reported_carrier")
        batch.drop_column("labelled_at")
