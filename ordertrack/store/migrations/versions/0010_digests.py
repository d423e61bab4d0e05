"""digests: each email digest sent, so the hour between them holds when one lists only flags

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-16 09:00:00

The digest's last time was the newest alert's `digested_at`; a digest that lists open delay
flags and no new alert marks no alert, so it is recorded here. The last digest before this
migration is carried over, so an upgrade does not send an extra one.
"""

import sqlalchemy as sa
from alembic import op

import ordertrack.store.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = ordertrack.store.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "digests",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("sent_at", When, nullable=False),
        sa.Column("alerts", sa.Integer(), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_digests"),
    )
    op.create_index("ix_digests_sent_at", "digests", ["sent_at"])
    op.execute(
        "INSERT INTO digests (sent_at, alerts, flags)"
        " SELECT digested_at, count(*), 0 FROM alerts"
        " WHERE digested_at = (SELECT max(digested_at) FROM alerts) GROUP BY digested_at"
    )


def downgrade() -> None:
    op.drop_index("ix_digests_sent_at", table_name="digests")
    op.drop_table("digests")
