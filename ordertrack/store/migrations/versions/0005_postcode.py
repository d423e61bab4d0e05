"""the shipping postcode, for a customer's order lookup

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 18:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("postcode", sa.String(length=16)))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("postcode")
