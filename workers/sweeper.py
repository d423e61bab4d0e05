"""The sweeper: the database is the source of truth, so rows left unfinished (Redis was down,
a worker was killed, a retry was stranded by a Redis blip) are found there and sent again.
A 2xx is never lost; at worst it is late by SWEEP_AFTER_SECONDS."""

import logging
import threading
from datetime import timedelta

from ordertrack.notifications import sender
from ordertrack.store import inbox, overdue, parking
from ordertrack.store.models import Inbox, InboxStatus, Outbox, OutboxStatus
from workers.runtime import Runtime

log = logging.getLogger(__name__)


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


def run_forever(runtime: Runtime, stop: threading.Event) -> None:
    """Sweep every SWEEP_INTERVAL_SECONDS until `stop` is set; errors are logged, never fatal."""
    while not stop.wait(runtime.settings.sweep_interval_seconds):
        try:
            sweep_once(runtime)
        except Exception:
            log.exception(
                "sweep failed; trying again in %ss", runtime.settings.sweep_interval_seconds
            )
