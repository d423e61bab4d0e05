"""delay flag days: flags raised and cleared per UTC day and kind

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 15:10:00

The delays report and the open-flag counts (report, console, metrics) read these few rows
per day instead of every flag (store/flag_models.py says why); counted here once from the
flags already stored.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

from ordertrack.store import flags

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delay_flag_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("raised", sa.Integer(), server_default="0", nullable=False),
        sa.Column("cleared", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("day", "kind", name="pk_delay_flag_days"),
    )
    with Session(bind=op.get_bind()) as session:
        flags.rebuild_days(session)


def downgrade() -> None:
    op.drop_table("delay_flag_days")
