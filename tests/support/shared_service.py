"""The whole service for every test of a module (`scope="module"` fixtures): what conftest's
`base_env`, `smtp`, `postgres_url` and `start_service()` give one test, made once, because a
PostgreSQL database takes seconds to create and migrate on a busy machine. The module's tests
must leave nothing the others would see, or keep to ids and addresses of their own."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.conftest import _postgres_database, apply_base_env
from tests.support.harness import Service, start_service
from tests.support.smtp import Recorder, start_smtp


@contextmanager
def shared_service(
    *, with_worker: bool = True, **env: str
) -> Iterator[tuple[Service, Recorder, str]]:
    """(the service, its SMTP server's recorder, its database URL), on PostgreSQL with the
    base environment, a real SMTP server and `env` on top; all stopped and dropped after."""
    controller, recorder = start_smtp()
    database = _postgres_database()
    try:
        url = next(database)
        with pytest.MonkeyPatch.context() as monkeypatch:
            apply_base_env(monkeypatch)
            settings = {
                "DATABASE_URL": url,
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(controller.port),
                "SMTP_FROM": "orders@shop.test",
                **env,
            }
            for name, value in settings.items():
                monkeypatch.setenv(name, value)
            service = start_service(with_worker=with_worker)
            try:
                yield service, recorder, url
            finally:
                service.stop()
    finally:
        controller.stop()
        next(database, None)
