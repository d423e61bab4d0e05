"""lanes: an index for learned delivery estimates

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-18 09:00:00

A learned estimate reads one carrier's deliveries of the last ESTIMATE_WINDOW_DAYS: the
(status, status_at) index finds them without scanning every parcel ever shipped.
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_shipments_status_at", "shipments", ["status", "status_at"])


def downgrade() -> None:
    op.drop_index("ix_shipments_status_at", table_name="shipments")
