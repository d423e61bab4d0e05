"""Migration 0004 builds exactly the tables the return models describe, on both databases,
and goes down again cleanly."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import ordertrack.store.return_models  # noqa: F401  (the lead imports it from models.py)
from ordertrack.store.db import make_engine
from ordertrack.store.migrate import alembic_config, upgrade
from ordertrack.store.models import Base

RETURN_TABLES = {"returns", "return_items", "return_events"}


def test_a_freshly_migrated_database_matches_the_models(database_url):
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
            assert set(inspect(connection).get_table_names()) >= RETURN_TABLES
    finally:
        engine.dispose()


def test_returns_migration_goes_down_and_up_again(database_url):
    command.downgrade(alembic_config(database_url), "0003")
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            assert not RETURN_TABLES & set(inspect(connection).get_table_names())
        upgrade(database_url)
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) >= RETURN_TABLES
    finally:
        engine.dispose()
