"""per-parcel news: the outbox's once-only key names the parcel; a parcel's failed attempts
and the furthest stage its reports named

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 09:00:00

Existing rows keep their meaning. A row of an order with one parcel that told that parcel's
news (shipped, out for delivery, ...) is that parcel's now, so an order in flight at the
upgrade is not told it again; every other row gets the empty parcel: the order's own news.
A parcel's furthest stage starts at its status's; a parcel whose status is a failed attempt
has had one.
"""

import sqlalchemy as sa
from alembic import op

from ordertrack.store.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: The kinds a parcel's status announced before this revision.
_PARCEL_KINDS = (
    "shipped",
    "out_for_delivery",
    "delivered",
    "delivery_failed",
    "exception",
    "available_for_pickup",
)
#: statuses.STAGE for shipments, as of this revision.
_STAGES = {
    "label_created": 2,
    "in_transit": 3,
    "exception": 3,
    "out_for_delivery": 4,
    "delivery_failed": 4,
    "available_for_pickup": 4,
    "delivered": 5,
    "returned": 5,
}


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
        batch.add_column(
            sa.Column("furthest_stage", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("relabels", sa.Integer(), nullable=False, server_default="0"))
    _backfill(op.get_bind())


def _backfill(connection) -> None:
    shipments = sa.table(
        "shipments",
        sa.column("id"),
        sa.column("order_id"),
        sa.column("key"),
        sa.column("status"),
        sa.column("status_at", UTCDateTime()),
        sa.column("furthest_stage"),
        sa.column("failed_attempts", sa.JSON()),
    )
    outbox = sa.table("outbox", sa.column("order_id"), sa.column("kind"), sa.column("parcel"))
    rows = connection.execute(
        sa.select(shipments.c.id, shipments.c.status, shipments.c.status_at)
    ).all()
    for shipment_id, status, status_at in rows:
        values = {"furthest_stage": _STAGES.get(status, 0)}
        if status == "delivery_failed" and status_at is not None:
            values["failed_attempts"] = [_iso(status_at)]
        connection.execute(
            sa.update(shipments).where(shipments.c.id == shipment_id).values(**values)
        )
    single = (
        sa.select(shipments.c.order_id)
        .group_by(shipments.c.order_id)
        .having(sa.func.count() == 1)
        .subquery()
    )
    only = connection.execute(
        sa.select(shipments.c.order_id, shipments.c.key).where(
            shipments.c.order_id.in_(sa.select(single.c.order_id))
        )
    ).all()
    for order_id, key in only:  # a parcel never renumbered is named by its key
        connection.execute(
            sa.update(outbox)
            .where(outbox.c.order_id == order_id, outbox.c.kind.in_(_PARCEL_KINDS))
            .values(parcel=key)
        )


def _iso(value) -> str:
    return value.isoformat()


def downgrade() -> None:
    with op.batch_alter_table("shipments") as batch:
        batch.drop_column("relabels")
        batch.drop_column("furthest_stage")
        batch.drop_column("failed_attempts")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("uq_outbox_once", type_="unique")
        batch.create_unique_constraint(
            "uq_outbox_once", ["order_id", "kind", "channel", "recipient"]
        )
        batch.drop_column("parcel")
