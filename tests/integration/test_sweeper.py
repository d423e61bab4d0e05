"""The sweeper re-drives a notification whose worker died mid-send, and only that one; and a
parked carrier event once its parcel has appeared, but not on every sweep after that."""

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from ordertrack.store import parking
from ordertrack.store.models import Inbox, Outbox, OutboxAttempt
from tests.support.webhooks import STORY, easypost, fixture_body
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


def test_a_stranded_pending_notification_is_re_driven_after_sweep_after_seconds(service, smtp):
    """SWEEP_AFTER_SECONDS (60) for a row the queue lost, as the README says; a row being sent
    waits out its send lease, which is longer, since its worker may still be at it."""
    for request in STORY[:3]:
        assert service.post(request).status_code == 202
    service.drain()
    ninety_seconds_ago = datetime.now(UTC) - timedelta(seconds=90)
    assert service.runtime.settings.sweep_after_seconds == 60
    assert service.runtime.channels.send_lease > timedelta(seconds=90)

    _set(service, status="sending", touched_at=ninety_seconds_ago)
    assert sweep_once(service.runtime) == (0, 0), "within its send lease"

    # Redis lost the message (or was down when it was enqueued): the row waits, pending.
    _set(service, status="pending", sent_at=None, touched_at=ninety_seconds_ago)
    assert sweep_once(service.runtime) == (0, 1)
    service.drain()
    assert _outbox(service).status == "sent"


def test_a_send_whose_worker_died_before_recording_it_is_logged_unknown_then_sent_again(
    service, smtp
):
    for request in STORY[:3]:
        assert service.post(request).status_code == 202
    service.drain()
    # What a worker killed after the SMTP server's 250, before its commit, leaves behind.
    with service.runtime.sessions.begin() as session:
        session.execute(delete(OutboxAttempt))
    _set(service, status="sending", sent_at=None, touched_at=datetime.now(UTC) - timedelta(hours=1))

    assert sweep_once(service.runtime) == (0, 1)
    service.drain()

    [email] = service.order("5531234567890")["notifications"]
    assert email["status"] == "sent"
    assert [(a["attempt"], a["outcome"]) for a in email["attempt_log"]] == [
        (1, "unknown"),
        (2, "sent"),
    ]
    assert "may have been sent" in email["attempt_log"][0]["reason"]
    copies = smtp.to("ada@example.com")
    assert len(copies) == 2 and copies[0]["Message-ID"] == copies[1]["Message-ID"]


def _inbox_status(service, delivery_id: str) -> str:
    with service.runtime.sessions() as session:
        return session.scalars(select(Inbox.status).where(Inbox.dedupe_key == delivery_id)).one()


def _park_again(service, delivery_id: str, tracking_number: str) -> None:
    """What a carrier event racing its fulfillment looks like: parked, its number now known."""
    with service.runtime.sessions.begin() as session:
        row = session.scalars(select(Inbox).where(Inbox.dedupe_key == delivery_id)).one()
        parking.park(session, row, {tracking_number})
        row.touched_at = datetime.now(UTC) - timedelta(minutes=5)


def test_a_parked_event_whose_parcel_appeared_meanwhile_is_applied_by_the_sweeper(service):
    for request in STORY[:3]:
        assert service.post(request).status_code == 202
    in_transit = easypost("tracker_updated__in_transit")
    assert service.post(in_transit).status_code == 202
    service.drain()
    event_id = json.loads(in_transit.body)["id"]
    _park_again(service, event_id, "9400111899223344556677")

    assert sweep_once(service.runtime) == (1, 0)
    service.drain()
    assert _inbox_status(service, event_id) == "processed"


def test_a_parked_event_the_parcel_does_not_claim_is_not_swept_again_and_again(service):
    for request in STORY[:3]:
        assert service.post(request).status_code == 202
    service.drain()
    # FedEx's scan of a number the USPS parcel has: not that parcel's, so it stays parked.
    other = json.loads(fixture_body("easypost", "tracker_updated__in_transit"))
    other["result"]["carrier"] = "FedEx"
    assert (
        service.post(
            easypost("tracker_updated__in_transit", json.dumps(other).encode())
        ).status_code
        == 202
    )
    service.drain()
    assert _inbox_status(service, other["id"]) == "parked"

    assert sweep_once(service.runtime) == (0, 0), "the parcel has not changed since"
    _park_again(
        service, other["id"], "9400111899223344556677"
    )  # looked at before the order last changed
    assert sweep_once(service.runtime) == (1, 0)
    service.drain()
    assert _inbox_status(service, other["id"]) == "parked"
    assert sweep_once(service.runtime) == (0, 0), (
        "looked at once, then left until the order changes"
    )
