"""The sweeper: the database is the source of truth, so rows left unfinished (Redis was down,
a worker was killed, a retry was stranded by a Redis blip) are found there and sent again.
A 2xx is never lost; at worst it is late by SWEEP_AFTER_SECONDS."""

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from ordertrack import alerts, delay_check, estimate_rollup
from ordertrack.notifications import ops, sender
from ordertrack.store import inbox, overdue, parking
from ordertrack.store.models import Inbox, InboxStatus, Outbox, OutboxStatus
from workers.runtime import Runtime

log = logging.getLogger(__name__)

#: Seconds of a sweep the estimates job may take while it catches up with the history.
LEARN_BUDGET_SECONDS = 5.0


def sweep_once(runtime: Runtime) -> tuple[int, int]:
    """Re-enqueue what is overdue; returns (inbox rows, notifications) sent again."""
    after = timedelta(seconds=runtime.settings.sweep_after_seconds)
    with runtime.sessions.begin() as session:
        inbox_ids = inbox.unfinished(session, after) + parking.changed_since_parked(session)
        outbox_ids = sender.unfinished(session, after)
        overdue.touch(session, Inbox, inbox_ids, InboxStatus.UNFINISHED)
        overdue.touch(session, Outbox, outbox_ids, [OutboxStatus.PENDING])
    for inbox_id in inbox_ids:
        runtime.actors.process_event.send(inbox_id)
    for outbox_id in outbox_ids:
        runtime.actors.send_notification.send(outbox_id)
    if inbox_ids or outbox_ids:
        log.info("sweeper re-enqueued %d events, %d notifications", len(inbox_ids), len(outbox_ids))
    return len(inbox_ids), len(outbox_ids)


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


def learn_estimates(runtime: Runtime, budget: float = LEARN_BUDGET_SECONDS) -> bool:
    """Judge the deliveries reported since the last run for the estimates report, a batch per
    transaction, for up to `budget` seconds; True while more wait (a fresh database)."""
    learning = estimate_rollup.learning_of(runtime.settings)
    deadline = time.monotonic() + budget
    while True:
        with runtime.sessions.begin() as session:
            run = estimate_rollup.learn(session, learning, datetime.now(UTC))
        if not run.more or time.monotonic() >= deadline:
            return run.more


def _learn_later(runtime: Runtime) -> float:
    """Seconds until the estimates job runs again: the next sweep while it catches up."""
    try:
        more = learn_estimates(runtime)
    except Exception as exc:
        log.warning("estimates job failed (%s); trying again later", type(exc).__name__)
        more = False
    return 0.0 if more else runtime.settings.delay_check_seconds


def run_forever(runtime: Runtime, stop: threading.Event) -> None:
    """Sweep every SWEEP_INTERVAL_SECONDS until `stop` is set, and check delays every
    DELAY_CHECK_SECONDS, and judge new deliveries for the estimates report as often: this
    loop is the deployment's one scheduler (one sweeper runs per deployment already, so no
    second scheduler is needed). Errors are logged, never fatal."""
    next_delay_check = next_learning = time.monotonic()
    while not stop.wait(runtime.settings.sweep_interval_seconds):
        try:
            sweep_once(runtime)
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
        if time.monotonic() >= next_learning:
            next_learning = time.monotonic() + _learn_later(runtime)
