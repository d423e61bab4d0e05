"""The actors. Each loads by id, calls the domain, commits, and enqueues what follows.
No business rules here: those live in `ordertrack.pipeline` and `ordertrack.notifications`."""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import dramatiq
from sqlalchemy.orm import Session, sessionmaker

from ordertrack import alerts, apply_batch, pipeline
from ordertrack.errors import OrdertrackError
from ordertrack.notifications import lease, sender
from ordertrack.settings import Settings
from ordertrack.store.models import Inbox, InboxStatus
from workers import metrics
from workers.apply_group import GroupApplier

log = logging.getLogger(__name__)


class GiveUp(Exception):
    """The row is marked failed for good; Dramatiq dead-letters the message, no retry."""


class TryAgain(Exception):
    """A transient failure; Dramatiq retries with backoff."""


class TryLater(dramatiq.Retry):
    """A transient failure whose cause said when to come back (Retry-After): Dramatiq retries
    after `delay` ms. Dramatiq does not log these; `_record_failure` already has."""


@dataclass(frozen=True)
class Actors:
    process_event: dramatiq.Actor
    send_notification: dramatiq.Actor


def declare_actors(
    broker: dramatiq.Broker,
    sessions: sessionmaker[Session],
    channels: sender.Channels,
    settings: Settings,
    send_times: lease.SendTimes,
) -> Actors:
    max_attempts = settings.max_attempts

    applier = GroupApplier(partial(apply_batch.apply_rows, sessions, settings=settings))

    @dramatiq.actor(broker=broker, queue_name="events", throws=(GiveUp,))
    def process_event(inbox_id: int) -> None:
        try:
            outcome = applier.apply(inbox_id)
        except Exception as exc:  # the attempt could not be counted: nothing was applied
            raise TryAgain(f"inbox {inbox_id}: {type(exc).__name__}") from None
        if outcome.start is pipeline.Start.GAVE_UP:
            raise GiveUp(f"inbox {inbox_id}: attempts used up by attempts that never finished")
        if outcome.error is not None:
            exc = outcome.error
            _record_failure_quietly(sessions, inbox_id, exc, max_attempts)
            # Dramatiq logs what we raise; the original may quote payload data or SQL
            # parameters (addresses), so only its type leaves this function.
            reason = f"inbox {inbox_id}: {type(exc).__name__}"
            delay = _delay_ms(exc, settings)
            raise (TryLater(reason, delay) if delay else TryAgain(reason)) from None
        if outcome.processed is None:  # not started: done, or another worker's
            return
        result = outcome.processed
        _count_applied(result)
        for queued in result.notifications:
            send_when_due(send_notification, queued.id, queued.due_at)
        for parked_id in result.unparked_inbox_ids:
            process_event.send(parked_id)

    # The time limit outlasts every timeout of one attempt, and the send lease outlasts it
    # (notifications/lease.py): Dramatiq cannot interrupt a blocking read.
    @dramatiq.actor(
        broker=broker,
        queue_name="notifications",
        throws=(GiveUp,),
        time_limit=lease.time_limit_ms(send_times),
    )
    def send_notification(outbox_id: int) -> None:
        try:
            outcome = sender.deliver(sessions, outbox_id, channels)
        except sender.Unrecorded as exc:
            _unrecorded(outbox_id, exc.outcome)
            return
        except Exception as exc:  # the database, most likely; only the type is logged
            raise TryAgain(f"outbox {outbox_id}: {type(exc).__name__}") from None
        if outcome.channel and outcome.unrecorded_before:
            metrics.notification_attempted(outcome.channel, "unknown")
        if outcome.channel:  # an attempt was made and recorded
            metrics.notification_attempted(outcome.channel, outcome.recorded_as)
        if outcome.status == "not due":  # sent early (the sweeper, a resend): wait for it
            send_notification.send_with_options(args=(outbox_id,), delay=int(outcome.wait * 1000))
        elif outcome.retry:  # the reason is in the outbox row; it may quote an address
            log.warning("outbox %s: transient failure, will retry", outbox_id)
            reason = f"outbox {outbox_id}: transient failure, will retry"
            delay = _wait_ms(outcome.wait, settings)
            raise (TryLater(reason, delay) if delay else TryAgain(reason))

    return Actors(process_event, send_notification)


def _unrecorded(outbox_id: int, outcome: sender.SendOutcome) -> None:
    """Logged and counted, not retried: the row stays `sending` until its lease runs out, and
    is then claimed as one whose last attempt is unknown (a text is looked up first)."""
    log.error(
        "outbox %s: the %s attempt could not be recorded; left to the sweeper after the lease",
        outbox_id,
        outcome.recorded_as,
    )
    if outcome.channel:
        metrics.notification_attempted(outcome.channel, "unrecorded")


def _count_applied(result: pipeline.Processed) -> None:
    """After commit: what the transaction did is now true."""
    metrics.transitions(result.new_statuses)
    if result.applied:
        applied = result.applied
        metrics.event_applied(applied.source, applied.received_at, applied.applied_at)


def send_when_due(actor: dramatiq.Actor, outbox_id: int, due_at: datetime | None) -> None:
    """Enqueue now, delayed until the row is due (the broker holds it meanwhile)."""
    wait = (due_at - datetime.now(UTC)).total_seconds() if due_at else 0
    if wait > 0:
        actor.send_with_options(args=(outbox_id,), delay=int(wait * 1000))
    else:
        actor.send(outbox_id)


def _delay_ms(exc: Exception, settings: Settings) -> int | None:
    """When a source's API said when to come back (Retry-After), within our own bounds."""
    return _wait_ms(getattr(exc, "retry_after", None), settings)


def _wait_ms(seconds: float | None, settings: Settings) -> int | None:
    if seconds is None:
        return None
    wanted = int(seconds * 1000)
    return max(settings.retry_min_backoff_ms, min(wanted, settings.retry_max_backoff_ms))


def _record_failure_quietly(sessions, inbox_id: int, exc: Exception, max_attempts: int) -> None:
    """Record the failure; if even that fails (the database is down), retry later."""
    try:
        _record_failure(sessions, inbox_id, exc, max_attempts)
    except GiveUp:
        raise
    except Exception as failure:
        raise TryAgain(f"inbox {inbox_id}: {type(failure).__name__} recording a failure") from None


def _record_failure(sessions, inbox_id: int, exc: Exception, max_attempts: int) -> None:
    """Permanent errors and the last attempt mark the row failed (GiveUp); others retry."""
    permanent = isinstance(exc, OrdertrackError) and not exc.transient
    reason = f"{type(exc).__name__}: {exc}"[:1000]
    with sessions.begin() as session:
        row = session.get(Inbox, inbox_id, with_for_update=True)
        if row.status not in (*InboxStatus.UNFINISHED, InboxStatus.PARKED):
            return  # another delivery of this message finished it meanwhile
        row.last_error, row.touched_at = reason, datetime.now(UTC)
        give_up = permanent or row.attempts >= max_attempts
        row.status = InboxStatus.FAILED if give_up else InboxStatus.PENDING
        if give_up:
            now = datetime.now(UTC)
            alerts.event_failed(session, row.id, row.source, row.topic, exc, row.attempts, now)
    log.warning(
        "inbox %s attempt failed (%s)%s",
        inbox_id,
        type(exc).__name__,
        "; giving up" if give_up else "; will retry",
    )
    if give_up:
        raise GiveUp(f"inbox {inbox_id}: {type(exc).__name__}, marked failed") from None
