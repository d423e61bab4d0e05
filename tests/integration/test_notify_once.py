"""At most one message per (order, parcel, kind, channel, recipient), ever (issues 4 and 9), as
a property: whatever order the story's webhooks arrive in, however often a provider re-sends
them (and the platform repeats what the carrier said), and however often the queue hands the
same notification to a worker (at-least-once delivery), a real SMTP server receives each
parcel's news once at most, never news that parcel has already passed, and the last news of
each of the order's two parcels always.

The pipeline and the sender run as the actors run them, one transaction each; the queue's
redelivery is calling `sender.deliver` for the same id again, interleaved with the rest."""

import random
import re
import tempfile
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ordertrack import pipeline
from ordertrack.notifications import sender
from ordertrack.notifications.channels import Channels
from ordertrack.notifications.email import SmtpConfig
from ordertrack.settings import Settings
from ordertrack.store.db import make_engine, make_sessionmaker
from ordertrack.store.inbox import record
from ordertrack.store.models import Outbox
from tests.integration.test_convergence import (
    _SCRATCH,
    NEWS_ORDER,
    TIMELINE,
    _inbox_entry,
    _migrated_copy,
)
from tests.support.smtp import start_smtp

CUSTOMER = "ada@example.com"
#: Sent at once: no coalescing wait, so every delivery attempt is due.
SETTINGS = Settings(notify_coalesce_seconds=0)


@pytest.fixture(scope="module")
def mailbox():
    controller, recorder = start_smtp()
    yield controller, recorder
    controller.stop()


def _process(sessions, inbox_id: int) -> tuple[list[int], list[int]]:
    """One `process_event`: (notifications queued, parked rows released)."""
    with sessions.begin() as session:
        row = pipeline.claim(session, inbox_id)
        result = pipeline.process(session, row, SETTINGS) if row else pipeline.Processed()
    return [q.id for q in result.notifications], result.unparked_inbox_ids


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    arrival=st.permutations(TIMELINE),
    resent=st.lists(st.sampled_from(TIMELINE), max_size=6),
    redeliveries=st.lists(st.integers(min_value=1, max_value=3), min_size=12, max_size=12),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_duplicates_and_redelivery_never_send_a_message_twice(
    template, mailbox, arrival, resent, redeliveries, seed
):
    controller, recorder = mailbox
    recorder.messages.clear()
    channels = Channels(
        smtp=SmtpConfig("127.0.0.1", controller.port, "orders@shop.test"),
        shop_name="Analytical Shop",
        message_domain="shop.test",
        max_attempts=3,
        link_keys=(b"test-key",),
    )
    with tempfile.TemporaryDirectory(dir=_SCRATCH) as directory:
        engine = make_engine(_migrated_copy(template, directory))
        sessions = make_sessionmaker(engine)
        rng = random.Random(seed)
        pending: list[int] = []  # notification ids in the queue, duplicates included
        for request in [*arrival, *resent]:
            with engine.begin() as connection:
                (inbox_id,) = record(connection, [_inbox_entry(request)])
            waiting = [inbox_id] if inbox_id else []
            while waiting:
                queued, released = _process(sessions, waiting.pop(0))
                waiting += released
                for outbox_id in queued:
                    pending += [outbox_id] * redeliveries[outbox_id % len(redeliveries)]
            # The queue hands out what it holds in any order, now and then.
            rng.shuffle(pending)
            while pending and rng.random() < 0.5:
                sender.deliver(sessions, pending.pop(), channels)
        for outbox_id in pending:
            sender.deliver(sessions, outbox_id, channels)
        with sessions() as session:
            rows = session.scalars(select(Outbox)).all()
        engine.dispose()

    by_id = {row.id: row for row in rows}
    emailed = [by_id[_outbox_id(m)] for m in recorder.messages if m["To"] == CUSTOMER]
    told = Counter((row.parcel, row.kind) for row in emailed)
    assert all(count == 1 for count in told.values()), told
    assert len(emailed) == sum(row.status == "sent" for row in rows)
    parcels = {row.parcel for row in rows if row.channel == "email"}
    assert len(parcels) == 2 and "" not in parcels, "the story's news is all about its parcels"
    for parcel in parcels:
        assert (parcel, "delivered") in told, "each parcel's last news always goes out"
        news = [
            row.kind for row in sorted(emailed, key=lambda r: r.sent_at) if row.parcel == parcel
        ]
        assert news == sorted(news, key=NEWS_ORDER.index), "a parcel's news never goes back"


def _outbox_id(message) -> int:
    """Our Message-ID names the outbox row: <ordertrack.{outbox id}.{order id}@domain>."""
    return int(re.fullmatch(r"<ordertrack\.(\d+)\.\d+@[^>]+>", message["Message-ID"]).group(1))
