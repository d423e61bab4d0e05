"""MAX_ATTEMPTS holds even for attempts that never finish. A worker killed with SIGKILL, out of
memory, or stopped by Dramatiq's TimeLimitExceeded (a BaseException, which no `except
Exception` sees) leaves its row claimed and unrecorded; the queue or the sweeper hands it out
again, forever unless the claim itself counts. So the claim refuses a row whose attempts are
used up, marks it failed and raises the ops alert: for the inbox and for the outbox.

On both databases, with the actors' own functions called in this thread (no worker: what a
killed worker leaves is the database's state, which these tests reproduce step by step).
Third parties (BigCommerce's API, Twilio) are played by `responses`."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import responses
from dramatiq.middleware.time_limit import TimeLimitExceeded
from sqlalchemy import select, update

from ordertrack import pipeline
from ordertrack.notifications import claims
from ordertrack.store.alert_models import Alert
from ordertrack.store.models import Inbox, Outbox
from tests.support import twilio
from tests.support.harness import start_service
from tests.support.sources.bigcommerce import api_url
from tests.support.webhooks import easypost, fixture_body, request_for, shopify
from workers.actors import GiveUp

MAX_ATTEMPTS = 3  # base_env's MAX_ATTEMPTS


@pytest.fixture
def idle(database_url, base_env, smtp, monkeypatch):
    """The service with no worker: the test runs each actor call itself."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    for name, value in twilio.ENV.items():
        monkeypatch.setenv(name, value)
    service = start_service(with_worker=False)
    yield service
    service.stop()


def _interrupted(_request):
    """What Dramatiq's TimeLimit does to a worker thread past its limit, here mid-request."""
    raise TimeLimitExceeded()


def _inbox(service, inbox_id: int) -> Inbox:
    with service.runtime.sessions() as session:
        return session.get(Inbox, inbox_id)


def _outbox(service, outbox_id: int) -> Outbox:
    with service.runtime.sessions() as session:
        return session.get(Outbox, outbox_id)


def _alerts(service, kind: str) -> list[dict]:
    with service.runtime.sessions() as session:
        return [a.detail for a in session.scalars(select(Alert).where(Alert.kind == kind))]


def _stored(service, request) -> int:
    assert service.post(request).status_code == 202, request.name
    with service.runtime.sessions() as session:
        return session.scalars(select(Inbox.id).order_by(Inbox.id.desc())).first()


# --- The inbox


def test_an_event_whose_attempts_are_cut_short_by_the_time_limit_is_failed_by_the_claim(idle):
    inbox_id = _stored(idle, request_for("bigcommerce", "order_updated"))
    process_event = idle.runtime.actors.process_event
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.add_callback(responses.GET, api_url("/orders/3001"), callback=_interrupted)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            with pytest.raises(TimeLimitExceeded):
                process_event.fn(inbox_id)
            row = _inbox(idle, inbox_id)
            assert (row.status, row.attempts) == ("processing", attempt)

        with pytest.raises(GiveUp):
            process_event.fn(inbox_id)
        fetches = len(api.calls)

    row = _inbox(idle, inbox_id)
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)
    assert "never finished" in row.last_error
    assert fetches == MAX_ATTEMPTS, "the refused attempt did not start"
    [alert] = _alerts(idle, "event_failed")
    assert (alert["inbox_id"], alert["attempts"]) == (inbox_id, MAX_ATTEMPTS)
    assert alert["reason"] == "AttemptsExhausted"


def test_claiming_an_inbox_row_again_and_again_without_finishing_stops_at_max_attempts(idle):
    inbox_id = _stored(idle, shopify("orders_create"))
    for attempt in range(1, MAX_ATTEMPTS + 1):
        with idle.runtime.sessions.begin() as session:
            started = pipeline.start_attempt(session, inbox_id, MAX_ATTEMPTS, datetime.now(UTC))
        assert started is pipeline.Start.STARTED, attempt
        # ... and the worker dies here, as SIGKILL or the OOM killer leaves it.

    with idle.runtime.sessions.begin() as session:
        started = pipeline.start_attempt(session, inbox_id, MAX_ATTEMPTS, datetime.now(UTC))

    assert started is pipeline.Start.GAVE_UP
    row = _inbox(idle, inbox_id)
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)
    assert [a["inbox_id"] for a in _alerts(idle, "event_failed")] == [inbox_id]
    with idle.runtime.sessions.begin() as session:
        again = pipeline.start_attempt(session, inbox_id, MAX_ATTEMPTS, datetime.now(UTC))
    assert again is pipeline.Start.NOTHING_TO_DO, "a failed row is done: no second alert"
    assert len(_alerts(idle, "event_failed")) == 1


def test_a_row_whose_earlier_attempts_finished_is_not_refused_by_the_claim(idle):
    """Attempts that ended (a retry recorded, a parked event looked at again) are the
    failure handler's to count; the claim only refuses after attempts that never ended."""
    inbox_id = _stored(idle, shopify("orders_create"))
    with idle.runtime.sessions.begin() as session:
        session.execute(update(Inbox).where(Inbox.id == inbox_id).values(attempts=MAX_ATTEMPTS + 2))
    with idle.runtime.sessions.begin() as session:
        started = pipeline.start_attempt(session, inbox_id, MAX_ATTEMPTS, datetime.now(UTC))
    assert started is pipeline.Start.STARTED


# --- The outbox


def _consenting_order():
    order = json.loads(fixture_body("shopify", "orders_create"))
    order["customer"]["sms_marketing_consent"] = {"state": "subscribed"}
    return shopify("orders_create", json.dumps(order).encode())


def _text_due(service) -> int:
    """The story up to a parcel out for delivery, applied: the id of the text it queued."""
    story = [_consenting_order(), shopify("fulfillments_create")]
    story.append(easypost("tracker_updated__out_for_delivery"))
    for request in story:
        inbox_id = _stored(service, request)
        service.runtime.actors.process_event.fn(inbox_id)
    with service.runtime.sessions() as session:
        return session.scalars(select(Outbox.id).where(Outbox.channel == "sms")).one()


def _lease_passes(service, outbox_id: int) -> None:
    """Time passing: the claimed row's lease runs out."""
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    with service.runtime.sessions.begin() as session:
        session.execute(update(Outbox).where(Outbox.id == outbox_id).values(touched_at=long_ago))


def test_a_text_whose_sends_are_cut_short_by_the_time_limit_is_failed_by_the_claim(idle):
    outbox_id = _text_due(idle)
    send_notification = idle.runtime.actors.send_notification
    fake = twilio.FakeTwilio(script=[twilio.TIME_LIMIT] * (MAX_ATTEMPTS + 1))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        fake.install(api)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            with pytest.raises(TimeLimitExceeded):
                send_notification.fn(outbox_id)
            row = _outbox(idle, outbox_id)
            assert (row.status, row.attempts) == ("sending", attempt)
            _lease_passes(idle, outbox_id)

        send_notification.fn(outbox_id)

    assert len(fake.posts) == MAX_ATTEMPTS, "the refused attempt sent nothing"
    row = _outbox(idle, outbox_id)
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)
    assert "never finished" in row.last_error
    [alert] = _alerts(idle, "notification_failed")
    assert (alert["outbox_id"], alert["channel"], alert["attempts"]) == (
        outbox_id,
        "sms",
        MAX_ATTEMPTS,
    )
    assert alert["recipient"] == "+1555***0142"


def test_claiming_a_notification_again_and_again_without_finishing_stops_at_max_attempts(idle):
    outbox_id = _text_due(idle)
    lease = idle.runtime.channels.send_lease
    now = datetime.now(UTC)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        with idle.runtime.sessions.begin() as session:
            claimed = claims.claim(
                session, outbox_id, max_attempts=MAX_ATTEMPTS, lease=lease, now=now
            )
        assert isinstance(claimed, claims.Claim), attempt
        assert claimed.attempts == attempt
        assert claimed.reconcile is (attempt > 1), "a text whose last attempt is unknown"
        now += lease + timedelta(seconds=1)  # the worker died; its lease runs out

    with idle.runtime.sessions.begin() as session:
        within = claims.claim(
            session, outbox_id, max_attempts=MAX_ATTEMPTS, lease=lease, now=now - lease
        )
    assert within is None, "not while the last claim's lease holds"
    with idle.runtime.sessions.begin() as session:
        refused = claims.claim(session, outbox_id, max_attempts=MAX_ATTEMPTS, lease=lease, now=now)

    assert isinstance(refused, claims.GaveUp)
    row = _outbox(idle, outbox_id)
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)
    assert [a["outbox_id"] for a in _alerts(idle, "notification_failed")] == [outbox_id]
