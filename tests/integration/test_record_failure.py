"""A message the provider accepted is recorded as sent even when the database fails the
recording transaction: the worker tries again on a fresh connection instead of leaving the row
`sending`, where the sweeper would, after the lease, send it a second time.

The failure is PostgreSQL's own: the worker's recording UPDATE waits on a row lock another
session holds, and its connection is terminated (pg_terminate_backend), as a failover or an
administrator would. A real SMTP server that holds its reply to DATA lets the test take the
lock after the worker claimed the row and before it records."""

import asyncio
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text, update

from ordertrack.store.models import Outbox
from tests.support.harness import start_service
from tests.support.processes import wait_for
from tests.support.smtp import Recorder, free_port
from tests.support.webhooks import ORDER_ID, STORY
from workers.sweeper import sweep_once

CUSTOMER = "ada@example.com"


@dataclass
class HeldRecorder(Recorder):
    """Answers DATA only once the test releases it."""

    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.reached.set()
        while not self.release.is_set():
            await asyncio.sleep(0.02)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def held_smtp(base_env, monkeypatch):
    recorder = HeldRecorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(controller.port))
    monkeypatch.setenv("SMTP_FROM", "orders@shop.test")
    yield recorder
    recorder.release.set()
    controller.stop()


@pytest.fixture
def service(postgres_url, held_smtp, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    running = start_service()
    yield running
    running.stop()


def _waiting_on_a_lock(connection, statement: str) -> int | None:
    """The backend of this database whose `statement` waits on a lock, if one does."""
    row = connection.execute(
        text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query ILIKE :statement"
        ),
        {"statement": f"{statement}%"},
    ).first()
    return row.pid if row else None


def test_a_sent_email_whose_recording_connection_is_killed_is_recorded_sent_once(
    service, held_smtp
):
    for request in STORY[:3]:  # order, payment, first parcel: one "shipped" email
        assert service.post(request).status_code == 202
    assert held_smtp.reached.wait(timeout=20), "the worker did not reach DATA"

    engine = service.runtime.engine
    # Autocommit: pg_stat_activity is read afresh on each poll, not once per transaction.
    admin_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as admin, engine.connect() as blocker:
        blocker.begin()
        blocker.execute(text("SELECT id FROM outbox WHERE status = 'sending' FOR UPDATE"))
        held_smtp.release.set()  # 250: the message is accepted
        pid = wait_for(
            lambda: _waiting_on_a_lock(admin, "UPDATE outbox"),
            timeout=15,
            what="the worker's recording to wait on the lock",
        )
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        blocker.rollback()
    service.drain()

    [email] = service.order(ORDER_ID)["notifications"]
    assert (email["status"], email["attempts"]) == ("sent", 1)
    assert [a["outcome"] for a in email["attempt_log"]] == ["sent"]
    assert len(held_smtp.to(CUSTOMER)) == 1
    assert sweep_once(service.runtime) == (0, 0), "nothing left for the sweeper to send again"


def test_a_send_that_cannot_be_recorded_at_all_stays_visible_and_is_logged_unknown_later(
    service, held_smtp, caplog
):
    for request in STORY[:3]:
        assert service.post(request).status_code == 202
    assert held_smtp.reached.wait(timeout=20), "the worker did not reach DATA"

    engine = service.runtime.engine
    admin_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as admin, engine.connect() as blocker:
        blocker.begin()
        blocker.execute(text("SELECT id FROM outbox WHERE status = 'sending' FOR UPDATE"))
        held_smtp.release.set()
        for attempt in range(3):  # the first try and every try again: each connection killed
            pid = wait_for(
                lambda: _waiting_on_a_lock(admin, "UPDATE outbox"),
                timeout=15,
                what=f"try {attempt + 1} at recording to wait on the lock",
            )
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            wait_for(
                lambda pid=pid: _waiting_on_a_lock(admin, "UPDATE outbox") != pid,
                timeout=5,
                what="the killed backend to go",
            )
        wait_for(
            lambda: any("could not be recorded" in r.getMessage() for r in caplog.records),
            timeout=15,
            what="the worker to give up recording",
        )
        blocker.rollback()
    service.drain()

    # Not silently lost, not silently repeated: `sending` (in flight, as far as anyone knows)
    # until the lease runs out; then claimed again, the lost attempt logged `unknown`.
    [email] = service.order(ORDER_ID)["notifications"]
    assert (email["status"], email["attempt_log"]) == ("sending", [])
    assert sweep_once(service.runtime) == (0, 0), "within its lease"
    long_ago = datetime.now(UTC) - service.runtime.channels.send_lease - timedelta(seconds=1)
    with service.runtime.sessions.begin() as session:
        session.execute(update(Outbox).values(touched_at=long_ago))
    assert sweep_once(service.runtime) == (0, 1)
    service.drain()

    [email] = service.order(ORDER_ID)["notifications"]
    assert email["status"] == "sent"
    assert [a["outcome"] for a in email["attempt_log"]] == ["unknown", "sent"]
    copies = held_smtp.to(CUSTOMER)
    assert len(copies) == 2 and copies[0]["Message-ID"] == copies[1]["Message-ID"]
