"""The sweeper: the database is the source of truth, so rows left unfinished (Redis was down,
a worker was killed, a retry was stranded by a Redis blip) are found there and sent again.
A 2xx is never lost; at worst it is late by SWEEP_AFTER_SECONDS."""

import logging
import threading
from datetime import timedelta

from sqlalchemy import select

from ordertrack.notifications import sender
from ordertrack.store import inbox, overdue
from ordertrack.store.models import Inbox, InboxStatus, Order, Outbox, OutboxStatus, Shipment
from workers.runtime import Runtime

log = logging.getLogger(__name__)


def sweep_once(runtime: Runtime) -> tuple[int, int]:
    """Re-enqueue what is overdue; returns (inbox rows, notifications) sent again."""
    after = timedelta(seconds=runtime.settings.sweep_after_seconds)
    with runtime.sessions.begin() as session:
        inbox_ids = inbox.unfinished(session, after) + _parked_now_known(session)
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


def _parked_now_known(session) -> list[int]:
    """Parked carrier events whose number a shipment has gained or changed since the event
    was last looked at: a fulfillment that raced it. Only changes since then count, so an
    event the shipment does not claim (another carrier's, or from before a number was reused)
    is looked at again when that order next changes, not on every sweep."""
    changed_since = (
        select(Shipment.id)
        .join(Order, Order.id == Shipment.order_id)
        .where(
            Shipment.tracking_number == Inbox.parked_tracking_number,
            Order.updated_at > Inbox.touched_at,
        )
    )
    query = (
        select(Inbox.id)
        .where(Inbox.status == InboxStatus.PARKED, changed_since.exists())
        .limit(500)
    )
    return list(session.scalars(query))


def run_forever(runtime: Runtime, stop: threading.Event) -> None:
    """Sweep every SWEEP_INTERVAL_SECONDS until `stop` is set; errors are logged, never fatal."""
    while not stop.wait(runtime.settings.sweep_interval_seconds):
        try:
            sweep_once(runtime)
        except Exception:
            log.exception(
                "sweep failed; trying again in %ss", runtime.settings.sweep_interval_seconds
            )
