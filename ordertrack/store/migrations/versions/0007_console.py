"""the merchant console: its accounts, and the indexes its order list and search use

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 10:00:00

Email and customer-name search, and the carrier filter, use expression indexes (lower(...));
they are created here by hand, since the models cannot declare them portably: PostgreSQL's
customer-name index takes text_pattern_ops so a prefix LIKE uses it whatever the collation.
"""

import sqlalchemy as sa
from alembic import op

import ordertrack.store.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = ordertrack.store.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("last_sign_in_at", When),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_index("ix_orders_updated", "orders", ["updated_at", "id"])
    op.create_index("ix_orders_status_updated", "orders", ["status", "updated_at", "id"])
    op.create_index("ix_orders_external_id", "orders", ["external_id"])
    op.create_index("ix_orders_name", "orders", ["name"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_orders_email_lower ON orders (lower(email))")
        op.execute(
            "CREATE INDEX ix_orders_customer_name_lower "
            "ON orders (lower(customer_name) text_pattern_ops)"
        )
    else:
        op.execute("CREATE INDEX ix_orders_email_lower ON orders (lower(email))")
        op.execute("CREATE INDEX ix_orders_customer_name_lower ON orders (lower(customer_name))")
    # The carrier filter compares either name in any case.
    op.execute("CREATE INDEX ix_shipments_carrier_lower ON shipments (lower(carrier))")
    op.execute(
        "CREATE INDEX ix_shipments_reported_carrier_lower ON shipments (lower(reported_carrier))"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_shipments_reported_carrier_lower")
    op.execute("DROP INDEX ix_shipments_carrier_lower")
    op.execute("DROP INDEX ix_orders_customer_name_lower")
    op.execute("DROP INDEX ix_orders_email_lower")
    op.drop_index("ix_orders_name", table_name="orders")
    op.drop_index("ix_orders_external_id", table_name="orders")
    op.drop_index("ix_orders_status_updated", table_name="orders")
    op.drop_index("ix_orders_updated", table_name="orders")
    op.drop_table("users")
