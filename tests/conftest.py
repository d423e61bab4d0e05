"""Shared fixtures: real databases (SQLite file and the machine's PostgreSQL), real Redis,
a real SMTP server. Nothing of ours is faked."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ordertrack.store.migrate import upgrade
from tests.support.webhooks import source_env

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def _postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database, migrated, dropped afterwards."""
    name = f"ordertrack_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    """Every store-touching test runs against both backends."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ordertrack.db'}"
        upgrade(url)
        yield url
    else:
        yield from _postgres_database()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _postgres_database()


#: Settings a developer's shell may hold that would change what a test sees.
_OURS = (
    "WEBHOOK_",
    "BIGCOMMERCE_",
    "SMTP_",
    "REDIS_URL",
    "DATABASE_URL",
    "TWILIO_",
    "MERCHANT_",
    "ALLOW_PRIVATE",
    "SMS_",
    "NOTIF",
    "SHOP_",
    "SIGNING_",
    "METRICS_",
    "PROMETHEUS_",
)


@pytest.fixture
def base_env(monkeypatch) -> dict[str, str]:
    """The environment every app under test starts from."""
    return apply_base_env(monkeypatch)


def apply_base_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """`base_env`'s work, for a fixture of wider scope with a MonkeyPatch of its own."""
    env = {
        **source_env(),
        "API_TOKEN": "test-api-token",
        "PUBLIC_BASE_URL": "http://shop.test",
        "RETRY_MIN_BACKOFF_MS": "10",
        "RETRY_MAX_BACKOFF_MS": "50",
        "MAX_ATTEMPTS": "3",
        "NOTIFY_COALESCE_SECONDS": "0",
        # A shared 2-core machine running the suite can keep SQLite's write lock busy past
        # the production default (1.5 s): a 503 there is the machine, not the code. Tests of
        # a stalled database set their own.
        "COMMIT_TIMEOUT_SECONDS": "10",
        "SIGNING_SECRET": "test-signing-secret,an-older-one",
    }
    for name in list(os.environ):
        if name.startswith(_OURS):
            monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def smtp(monkeypatch):
    """A real SMTP server on a free port; the app under test is pointed at it."""
    from tests.support.smtp import start_smtp

    controller, recorder = start_smtp()
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(controller.port))
    monkeypatch.setenv("SMTP_FROM", "orders@shop.test")
    yield recorder
    controller.stop()


@pytest.fixture
def service(database_url, base_env, smtp, monkeypatch):
    """The whole service on the in-process broker, against SQLite and PostgreSQL."""
    from tests.support.harness import start_service

    monkeypatch.setenv("DATABASE_URL", database_url)
    running = start_service()
    yield running
    running.stop()


@pytest.fixture
def start(database_url, base_env, smtp, monkeypatch):
    """The `service` fixture's recipe with extra environment (None unsets a variable). One
    service runs at a time; starting another stops the previous one, on the same database."""
    from tests.support.harness import start_service

    running = []

    def _start(**env: str | None):
        if running:
            running.pop().stop()
        monkeypatch.setenv("DATABASE_URL", database_url)
        for name, value in env.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        running.append(start_service())
        return running[-1]

    yield _start
    if running:
        running.pop().stop()


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """One migrated SQLite file; property tests start every example from a fresh copy."""
    path = tmp_path_factory.mktemp("template") / "ordertrack.db"
    upgrade(f"sqlite:///{path}")
    return path


pytest_plugins = ["tests.support.fault_table"]
