"""Migration 0006: rows written before it keep their meaning (an order's news, the empty
parcel), and the once-only key now names the parcel, on both databases."""

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import MetaData, Table, delete, insert, select
from sqlalchemy.exc import IntegrityError

from ordertrack.store.db import make_engine
from ordertrack.store.migrate import alembic_config, upgrade
from ordertrack.store.models import Outbox, Shipment

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


def _row(order_id: int, **fields) -> dict:
    return {
        "order_id": order_id,
        "kind": "shipped",
        "channel": "email",
        "recipient": "ada@example.com",
        "status": "sent",
        "attempts": 1,
        "created_at": NOW,
        "touched_at": NOW,
    } | fields


def _order(connection, external_id: str) -> int:
    before = Table("orders", MetaData(), autoload_with=connection)
    order = {
        "platform": "shopify",
        "external_id": external_id,
        "platform_status": "shipped",
        "status": "shipped",
        "furthest_stage": 2,
        "items": [],
        "created_at": NOW,
        "updated_at": NOW,
    }
    return connection.execute(insert(before).values(order).returning(before.c.id)).scalar_one()


def _parcel(order_id: int, key: str, status: str) -> dict:
    return {
        "order_id": order_id,
        "key": key,
        "status": status,
        "status_at": NOW,
        "items": [],
        "cancelled": False,
        "removed": False,
    }


def test_older_rows_become_the_orders_news_and_each_parcel_is_told_apart(database_url):
    command.downgrade(alembic_config(database_url), "0005")
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            order_id = _order(connection, "1042")
            # The tables as 0005 left them, without the new columns.
            before = Table("outbox", MetaData(), autoload_with=connection)
            connection.execute(insert(before).values(_row(order_id)))
            connection.execute(insert(before).values(_row(order_id, kind="return_requested:1")))
            lone = _row(other := _order(connection, "1043"), kind="delivered")
            connection.execute(insert(before).values(lone))
            parcels = Table("shipments", MetaData(), autoload_with=connection)
            connection.execute(insert(parcels).values(_parcel(order_id, "f:1", "in_transit")))
            connection.execute(insert(parcels).values(_parcel(order_id, "f:2", "delivered")))
            connection.execute(insert(parcels).values(_parcel(other, "f:9", "delivery_failed")))
        upgrade(database_url)
        with engine.begin() as connection:
            told = connection.execute(
                select(Outbox.order_id, Outbox.parcel, Outbox.kind).order_by(Outbox.id)
            ).all()
            # Two parcels: the old row was the order's news. One parcel: it was that parcel's.
            assert told == [
                (order_id, "", "shipped"),
                (order_id, "", "return_requested:1"),
                (other, "f:9", "delivered"),
            ]
            stages = connection.execute(
                select(Shipment.key, Shipment.furthest_stage, Shipment.failed_attempts).order_by(
                    Shipment.key
                )
            ).all()
            assert [(key, stage) for key, stage, _ in stages] == [
                ("f:1", 3),
                ("f:2", 5),
                ("f:9", 4),
            ]
            assert len(stages[-1][2]) == 1, "a parcel at a failed attempt has had one"
            connection.execute(delete(Outbox).where(Outbox.order_id == other))
            for parcel in ("f:1", "f:2"):
                connection.execute(insert(Outbox.__table__).values(_row(order_id, parcel=parcel)))
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(insert(Outbox.__table__).values(_row(order_id, parcel="f:1")))
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(insert(Outbox.__table__).values(_row(order_id)))
    finally:
        engine.dispose()
