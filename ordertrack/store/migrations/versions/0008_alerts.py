"""alerts for the merchant: a table of what needs a person, each raised once

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 09:00:00

The inbox gets an index on (source, received_at): the sweeper asks for each configured
source's latest webhook every few seconds, and must not scan the inbox to answer.
"""

import sqlalchemy as sa
from alembic import op

import ordertrack.store.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = ordertrack.store.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("webhook_status", sa.String(length=16), nullable=False),
        sa.Column("webhook_attempts", sa.Integer(), nullable=False),
        sa.Column("webhook_due_at", When),
        sa.Column("webhook_sent_at", When),
        sa.Column("webhook_error", sa.Text()),
        sa.Column("digested_at", When),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.UniqueConstraint("key", name="uq_alerts_key"),
    )
    op.create_index("ix_alerts_webhook_due", "alerts", ["webhook_status", "webhook_due_at"])
    op.create_index("ix_alerts_digested", "alerts", ["digested_at"])
    op.create_index("ix_inbox_source_received", "inbox", ["source", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_inbox_source_received", table_name="inbox")
    op.drop_index("ix_alerts_digested", table_name="alerts")
    op.drop_index("ix_alerts_webhook_due", table_name="alerts")
    op.drop_table("alerts")
