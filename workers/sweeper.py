"""The sweeper: the database is the source of truth, so rows left unfinished (Redis was down,
a worker was killed, a retry was stranded by a Redis blip) are found there and sent again.
A 2xx is never lost; at worst it is late by SWEEP_AFTER_SECONDS. A notification a worker
claimed (`sending`) is left to it for the send lease, which outlasts any live attempt
(notifications/lease.py): handing it on sooner could send it twice."""

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import dramatiq

from ordertrack import alerts, delay_check
from ordertrack.notifications import ops, sender
from ordertrack.store import inbox, overdue, parking
from ordertrack.store.models import Inbox, InboxStatus, Outbox, OutboxStatus
from workers.broker import waiting
from workers.enqueue import send_many
from workers.runtime import Runtime

log = logging.getLogger(__name__)

#: Rows per batch: one short transaction (its row locks held for milliseconds) and one
#: pipelined enqueue each.
SWEEP_BATCH = 500

#: How often a pass whose queue is full looks again whether the workers have taken some.
QUEUE_POLL_SECONDS = 0.1


@dataclass
class _Backlog:
    """One table's overdue rows, re-driven a batch at a time in id order."""

    #: (session, untouched for, limit, after id) -> ids, locked, skipping rows others hold.
    overdue: Callable[..., list[int]]
    model: type
    #: The statuses a re-drive marks as just touched (see `overdue.touch`).
    touch: Sequence[str]
    actor: dramatiq.Actor
    last_id: int = 0
    sent: int = 0
    done: bool = False


def sweep_once(
    runtime: Runtime, budget: float | None = None, stop: threading.Event | None = None
) -> tuple[int, int]:
    """Re-enqueue what is overdue; returns (inbox rows, notifications) sent again.

    A large backlog (after an outage) goes a batch at a time, for as long as batches come
    back full, so it drains as fast as the workers take it rather than SWEEP_BATCH rows per
    SWEEP_INTERVAL_SECONDS. Two bounds hold a pass back:
    - the queue: while SWEEP_QUEUE_LIMIT messages wait on a queue, the workers are all
      busy, and more would only sit there until SWEEP_AFTER_SECONDS had passed and the
      same rows were sent again; the pass waits for the workers to take some;
    - time: after `budget` seconds (SWEEP_INTERVAL_SECONDS) the pass returns, so alerts
      and delay checks still run; the next pass starts at once and carries on.
    Events and notifications take turns, so neither backlog starves the other. `stop` set
    (the process is shutting down) ends a pass that is waiting for the workers."""
    settings = runtime.settings
    deadline = time.monotonic() + (settings.sweep_interval_seconds if budget is None else budget)
    stop = stop or threading.Event()
    after = timedelta(seconds=settings.sweep_after_seconds)
    parked = _redrive_parked(runtime)
    backlogs = (
        _Backlog(inbox.unfinished, Inbox, InboxStatus.UNFINISHED, runtime.actors.process_event),
        _Backlog(
            # A `sending` row only once its send lease has passed: its worker may be at it.
            partial(sender.unfinished, lease=runtime.channels.send_lease),
            Outbox,
            OutboxStatus.WAITING,
            runtime.actors.send_notification,
        ),
    )
    while True:
        ready = [b for b in backlogs if not b.done and _room(runtime, b)]
        for backlog in ready:
            _redrive_batch(runtime, backlog, after)
        if all(b.done for b in backlogs) or time.monotonic() >= deadline:
            break
        if not ready and stop.wait(QUEUE_POLL_SECONDS):
            break
    events, notifications = parked + backlogs[0].sent, backlogs[1].sent
    if events or notifications:
        log.info("sweeper re-enqueued %d events, %d notifications", events, notifications)
    return events, notifications


def _room(runtime: Runtime, backlog: _Backlog) -> bool:
    """Fewer messages wait on the backlog's queue than SWEEP_QUEUE_LIMIT."""
    return waiting(runtime.broker, backlog.actor.queue_name) < runtime.settings.sweep_queue_limit


def _redrive_batch(runtime: Runtime, backlog: _Backlog, after: timedelta) -> None:
    """One batch: locked, touched and committed, then enqueued. A crash in between leaves
    the rows touched but not sent: the next sweep after SWEEP_AFTER_SECONDS sends them."""
    with runtime.sessions.begin() as session:
        overdue.bound_lock_waits(session)
        ids = backlog.overdue(session, after, SWEEP_BATCH, backlog.last_id)
        overdue.touch(session, backlog.model, ids, backlog.touch)
    send_many(backlog.actor, ids)
    backlog.sent += len(ids)
    backlog.done = len(ids) < SWEEP_BATCH
    backlog.last_id = max(ids, default=backlog.last_id)


def _redrive_parked(runtime: Runtime) -> int:
    """Parked events whose parcel appeared meanwhile: once a pass. They are not touched (a
    parked row's mark says when it was last looked at), so a second batch would repeat them."""
    with runtime.sessions.begin() as session:
        overdue.bound_lock_waits(session)
        ids = parking.changed_since_parked(session, SWEEP_BATCH)
    send_many(runtime.actors.process_event, ids)
    return len(ids)


def alert_once(runtime: Runtime, now: datetime | None = None) -> None:
    """Raise silence alerts, send the alerts' webhooks that are due, and the digest if one
    is due. Each step on its own: a merchant endpoint down must not stop the digest."""
    now = now or datetime.now(UTC)
    settings = runtime.settings
    digest = ops.Digest(
        runtime.channels.smtp,
        settings.merchant_email,
        settings.shop_name,
        settings.public_base_url.rstrip("/") or None,
    )
    steps = {
        "silence check": lambda: _check_silence(runtime, now),
        "alert webhooks": lambda: ops.deliver_webhooks(
            runtime.sessions, runtime.channels.merchant, now
        ),
        "alert digest": lambda: ops.send_digest(runtime.sessions, digest, now),
    }
    for name, step in steps.items():
        try:
            step()
        except Exception as exc:  # its message may quote an address (an SMTP reply): type only
            log.warning("%s failed (%s); trying again next sweep", name, type(exc).__name__)


def _check_silence(runtime: Runtime, now: datetime) -> None:
    settings = runtime.settings
    with runtime.sessions.begin() as session:
        raised = alerts.check_silence(
            session, settings.webhook_secrets, settings.source_silence_hours, now
        )
    if raised:
        log.info("%d sources silent for over %s hours", raised, settings.source_silence_hours)


def check_delays(runtime: Runtime, now: datetime | None = None) -> delay_check.Checked:
    """Set and clear delay flags, then enqueue the news of the new ones (after commit)."""
    checked = delay_check.check_all(runtime.sessions, runtime.settings, now or datetime.now(UTC))
    for queued in checked.notifications:
        runtime.actors.send_notification.send(queued.id)
    if checked.flagged or checked.cleared:
        log.info("delay check: %d flagged, %d cleared", len(checked.flagged), len(checked.cleared))
    return checked


def run_forever(runtime: Runtime, stop: threading.Event) -> None:
    """Sweep every SWEEP_INTERVAL_SECONDS until `stop` is set, and check delays every
    DELAY_CHECK_SECONDS: this loop is the deployment's one scheduler (one sweeper runs per
    deployment already, so no second scheduler is needed). Errors are logged, never fatal."""
    interval = runtime.settings.sweep_interval_seconds
    next_delay_check = started = time.monotonic()
    # A pass that used all its time (a backlog) is followed at once by the next.
    while not stop.wait(max(0.0, started + interval - time.monotonic())):
        started = time.monotonic()
        try:
            sweep_once(runtime, stop=stop)
        except Exception:
            log.exception(
                "sweep failed; trying again in %ss", runtime.settings.sweep_interval_seconds
            )
        alert_once(runtime)
        if time.monotonic() >= next_delay_check:
            next_delay_check = time.monotonic() + runtime.settings.delay_check_seconds
            try:
                check_delays(runtime)
            except Exception as exc:
                log.warning("delay check failed (%s); trying again later", type(exc).__name__)
