"""What the channel fault tests (tests/faults/test_smtp_faults.py, test_sms_faults.py,
test_ssrf_faults.py) share: the service on PostgreSQL, the production database, one database
per test module emptied between tests (creating and migrating one per test costs seconds, and
the fault suite has a time budget); the story that sends a customer one message; and a Twilio
that answers the ways the matrix's SMS rows need."""

import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl

from sqlalchemy import create_engine, inspect, text

from ordertrack.store.migrate import upgrade
from tests.support import twilio
from tests.support.harness import Service, start_service
from tests.support.processes import wait_for
from tests.support.webhooks import ORDER_ID, easypost, fixture_body, shopify

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")


@contextmanager
def module_database(admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """A fresh migrated PostgreSQL database, dropped afterwards."""
    name = f"ordertrack_faults_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def emptied(url: str) -> str:
    """Every table of ours emptied and its ids restarted: the next test starts from nothing."""
    engine = create_engine(url)
    try:
        tables = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
        with engine.begin() as connection:
            names = ", ".join(f'"{table}"' for table in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()
    return url


@contextmanager
def running(monkeypatch, database_url: str, **env: str) -> Iterator[Service]:
    """The whole service (in-process queue, two worker threads) with these settings."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    service = start_service()
    try:
        yield service
    finally:
        service.stop()


def notifications(service: Service, channel: str) -> list[dict]:
    return [n for n in service.order(ORDER_ID)["notifications"] if n["channel"] == channel]


def finished(service: Service, channel: str, count: int = 1, timeout: float = 30) -> list[dict]:
    """The order's `count` notifications on `channel` once none is waiting or sending. drain()
    alone can return while a retry is between the delay queue and a worker."""

    def probe() -> list[dict] | None:
        rows = notifications(service, channel)
        unfinished = any(n["status"] in ("pending", "sending", "ambiguous") for n in rows)
        return rows if len(rows) == count and not unfinished else None

    return wait_for(probe, timeout=timeout, what=f"{count} {channel} notification(s) to finish")


# -- the stories -------------------------------------------------------------------------------


def order_body(**changes) -> bytes:
    """Shopify's orders/create with the order's own fields changed (`email=...`), and the
    customer's consent to texts."""
    order = json.loads(fixture_body("shopify", "orders_create"))
    order["customer"]["sms_marketing_consent"] = {"state": "subscribed"}
    order.update(changes)
    return json.dumps(order).encode()


def ship(service: Service, **changes) -> None:
    """The order is created, then its first parcel ships: one "shipped" email per address."""
    for request in (
        shopify("orders_create", order_body(**changes)),
        shopify("fulfillments_create"),
    ):
        assert service.post(request).status_code == 202, request.name
        service.drain()


def out_for_delivery(service: Service) -> None:
    """The story up to the first parcel out for delivery: one text goes out."""
    for request in (
        shopify("orders_create", order_body()),
        shopify("fulfillments_create"),
        easypost("tracker_updated__out_for_delivery"),
    ):
        assert service.post(request).status_code == 202, request.name
        service.drain()


# -- Twilio ------------------------------------------------------------------------------------

#: 429 (20429) with `Retry-After: 2`; nothing is created.
THROTTLED_2S = "throttled_2s"
#: 429 (20429) with no Retry-After at all; nothing is created.
THROTTLED_BARE = "throttled_bare"
#: 400 (21211): the 'To' number is not a valid phone number; nothing is created.
INVALID_TO = "invalid_to"


class FaultyTwilio(twilio.FakeTwilio):
    """tests/support/twilio.py's Twilio, with the matrix's other answers to a create."""

    def _create(self, request):
        if not self.script or self.script[0] not in (THROTTLED_2S, THROTTLED_BARE, INVALID_TO):
            return super()._create(request)
        action = self.script.pop(0)
        self.posts.append((time.monotonic(), dict(parse_qsl(request.body))))
        if action == INVALID_TO:
            to = dict(parse_qsl(request.body))["To"]
            message = f"The 'To' number {to} is not a valid phone number."
            return 400, {}, json.dumps({"code": 21211, "message": message, "status": 400})
        error = json.dumps({"code": 20429, "message": "Too Many Requests", "status": 429})
        headers = {"Retry-After": "2"} if action == THROTTLED_2S else {}
        return 429, headers, error
