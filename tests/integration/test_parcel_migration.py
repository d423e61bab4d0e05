"""Migration 0006: rows written before it keep their meaning (an order's news, the empty
parcel), and the once-only key now names the parcel, on both databases."""

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import MetaData, Table, insert, select
from sqlalchemy.exc import IntegrityError

from ordertrack.store.db import make_engine
from ordertrack.store.migrate import alembic_config, upgrade
from ordertrack.store.models import Order, Outbox

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


def test_older_rows_become_the_orders_news_and_each_parcel_is_told_apart(database_url):
    command.downgrade(alembic_config(database_url), "0005")
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            order = {
                "platform": "shopify",
                "external_id": "1042",
                "platform_status": "shipped",
                "status": "shipped",
                "furthest_stage": 2,
                "items": [],
                "created_at": NOW,
                "updated_at": NOW,
            }
            (order_id,) = connection.execute(insert(Order).values(order).returning(Order.id)).one()
            # The table as 0005 left it, without the parcel column.
            before = Table("outbox", MetaData(), autoload_with=connection)
            connection.execute(insert(before).values(_row(order_id)))
        upgrade(database_url)
        with engine.begin() as connection:
            assert connection.execute(select(Outbox.parcel, Outbox.kind)).all() == [("", "shipped")]
            for parcel in ("f:1", "f:2"):
                connection.execute(insert(Outbox.__table__).values(_row(order_id, parcel=parcel)))
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(insert(Outbox.__table__).values(_row(order_id, parcel="f:1")))
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(insert(Outbox.__table__).values(_row(order_id)))
    finally:
        engine.dispose()
