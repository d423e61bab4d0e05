"""POST /webhooks/twilio: Twilio's delivery status callbacks for the texts we sent, verified
by X-Twilio-Signature (HMAC-SHA1 over the URL we gave Twilio and the form, keyed by the auth
token). A delivered text is marked delivered; an undelivered or failed one failed, with
Twilio's error code. Everything else is answered 200 and changes nothing."""

import logging
from datetime import UTC, datetime

from flask import Blueprint, current_app, request

from ordertrack import alerts
from ordertrack.errors import SourceNotConfigured
from ordertrack.notifications import twilio_callbacks
from ordertrack.store import sms_statuses
from service.webhooks import acknowledge

bp = Blueprint("twilio_status", __name__)
log = logging.getLogger(__name__)


@bp.post("/webhooks/twilio")
def status_callback():
    edge = current_app.extensions["ordertrack"]
    token = edge.settings.twilio_auth_token
    if not token:
        raise SourceNotConfigured("Twilio is not enabled: set TWILIO_AUTH_TOKEN")
    url = edge.settings.public_base_url + request.full_path.rstrip("?")
    signature = request.headers.get(twilio_callbacks.SIGNATURE_HEADER)
    twilio_callbacks.verify([token], url, request.form, signature)
    update = twilio_callbacks.parse_status(request.form)
    outbox_id = request.args.get("outbox", type=int)
    with edge.durable_sessions.begin() as session:
        moved = _record(session, update, outbox_id)
    status = "recorded" if moved else "unchanged"
    return acknowledge(200, status=status, message_status=update.status)


def _record(session, update: twilio_callbacks.StatusUpdate, outbox_id: int | None) -> bool:
    sid = update.message_sid
    if update.status == twilio_callbacks.DELIVERED:
        return sms_statuses.mark_delivered(session, "sms", sid, outbox_id)
    if update.status == twilio_callbacks.FAILED:
        reason = f"Twilio: {update.twilio_status} (error {update.error_code or 'not given'})"
        failed = sms_statuses.mark_failed(session, "sms", sid, outbox_id, reason)
        if failed:  # failed for good: Twilio does not try again
            alerts.notification_failed(session, failed.id, failed, reason, datetime.now(UTC))
        return failed is not None
    if update.status == twilio_callbacks.UNKNOWN:
        log.warning("Twilio status %r is not in the table", update.twilio_status[:40])
    return False
