"""The sweeper re-drives a notification whose worker died mid-send, and only that one."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from ordertrack.store.models import Outbox
from tests.support.webhooks import STORY
from workers.sweeper import sweep_once


def _outbox(service) -> Outbox:
    with service.runtime.sessions() as session:
        return session.scalars(select(Outbox)).one()


def _set(service, **values) -> None:
    with service.runtime.sessions.begin() as session:
        session.execute(update(Outbox).values(**values))


def test_a_send_abandoned_past_its_lease_is_sent_again_by_the_sweeper(service, smtp):
    for request in STORY[:3]:  # order, payment, first parcel: one "shipped" email
        assert service.post(request).status_code == 202
    service.drain()
    assert _outbox(service).status == "sent"
    # A worker claimed it again and was killed before recording the outcome.
    _set(
        service,
        status="sending",
        sent_at=None,
        touched_at=datetime.now(UTC) - timedelta(minutes=10),
    )

    assert sweep_once(service.runtime) == (0, 1)
    service.drain()

    row = _outbox(service)
    assert row.status == "sent"
    assert row.attempts == 2
    assert len(smtp.to("ada@example.com")) == 2, "an ambiguous crash may cost one duplicate"
    assert sweep_once(service.runtime) == (0, 0), "nothing left to re-drive"


def test_a_send_still_within_its_lease_is_left_to_its_worker(service, smtp):
    for request in STORY[:3]:
        service.post(request)
    service.drain()
    _set(service, status="sending", touched_at=datetime.now(UTC) - timedelta(seconds=30))

    assert sweep_once(service.runtime) == (0, 0)
    assert _outbox(service).status == "sending"
