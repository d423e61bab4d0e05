"""The console's actions, each through the same use case as the API: replay through
ordertrack.replay, resend through ordertrack.notifications.resend."""

from ordertrack import replay
from ordertrack.notifications import resend
from ordertrack.store import documents
from ordertrack.store.models import OutboxStatus
from service.console.web import edge
from workers.enqueue import send_many


def replay_webhooks(filters: replay.ReplayFilter, *, dry_run: bool = False) -> replay.ReplayReport:
    """Mark, commit, then hand the ids to the events queue; dry, only count."""
    runtime = edge().runtime
    return replay.replay(
        edge().durable_sessions,
        filters,
        lambda ids: send_many(runtime.actors.process_event, ids),
        dry_run=dry_run,
    )


def resend_message(outbox_id: int) -> tuple[bool, str]:
    """(done, what to tell the merchant)."""
    with edge().durable_sessions.begin() as session:
        row = resend.mark_for_resend(session, outbox_id)
        if row is None:
            return False, f"There is no message {outbox_id}."
        if row.status != OutboxStatus.PENDING:
            return False, f"Message {outbox_id} is {row.status}, not failed: nothing to resend."
        document = documents.notification_document(row)
    edge().runtime.actors.send_notification.send(outbox_id)
    return True, f"Message {outbox_id} ({document['kind']}, {document['channel']}) is sent again."
