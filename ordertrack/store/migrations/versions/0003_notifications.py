"""notifications people trust: the customer's consent, language and region; when a message
is due; the provider's message id; every attempt; unsubscribes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 18:40:00
"""

import sqlalchemy as sa
from alembic import op

import ordertrack.store.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = ordertrack.store.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("sms_consent", sa.Boolean()))
        batch.add_column(sa.Column("locale", sa.String(length=16)))
        batch.add_column(sa.Column("country_code", sa.String(length=2)))
        batch.add_column(sa.Column("province_code", sa.String(length=8)))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("due_at", When))
        batch.add_column(sa.Column("provider_message_id", sa.String(length=64)))
    op.create_index("ix_outbox_provider_message_id", "outbox", ["provider_message_id"])
    op.create_table(
        "outbox_attempts",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column(
            "outbox_id",
            Id,
            sa.ForeignKey("outbox.id", name="fk_outbox_attempts_outbox_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", When, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_attempts"),
    )
    op.create_index("ix_outbox_attempts_outbox_id", "outbox_attempts", ["outbox_id"])
    op.create_table(
        "unsubscribes",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.PrimaryKeyConstraint("channel", "recipient", name="pk_unsubscribes"),
    )


def downgrade() -> None:
    op.drop_table("unsubscribes")
    op.drop_index("ix_outbox_attempts_outbox_id", table_name="outbox_attempts")
    op.drop_table("outbox_attempts")
    op.drop_index("ix_outbox_provider_message_id", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("provider_message_id")
        batch.drop_column("due_at")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("province_code")
        batch.drop_column("country_code")
        batch.drop_column("locale")
        batch.drop_column("sms_consent")
