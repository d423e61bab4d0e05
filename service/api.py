"""The read API: an order, or a shipment's order, with status, shipments, history and
notifications. Bearer API_TOKEN, compared in constant time."""

import hmac

from flask import Blueprint, current_app, jsonify, request

from ordertrack import replay
from ordertrack.notifications import resend
from ordertrack.store import documents, flags, search
from ordertrack.store.db import snapshot
from ordertrack.store.models import ID_MAX, OutboxStatus
from service.errors import error_response
from service.queries import order_query, replay_filter
from workers.enqueue import send_many

bp = Blueprint("api", __name__, url_prefix="/api/v1")
#: A row id in a path: up to the column's largest, so a larger number is a 404, not a 500.
ROW_ID = f"int(max={ID_MAX})"


@bp.before_request
def require_token():
    token = current_app.extensions["ordertrack"].settings.api_token
    if not token:
        return error_response(401, "the API is disabled: set API_TOKEN on the server")
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), token.encode()):
        return error_response(401, "missing or wrong bearer token")
    return None


@bp.get("/orders")
def list_orders():
    """Search and list orders, newest change first: `q` (order number, customer email or the
    start of their name, tracking number), `status`, `platform`, `carrier`, `since`, `until`
    (ISO dates or times, on the last change), `flag` (a delay flag's kind, or `any`), `limit`
    and the `cursor` a page gave."""
    try:
        filters, cursor, limit = order_query(request.args)
        with snapshot(current_app.extensions["ordertrack"].sessions) as session:
            page = search.search_orders(session, filters, cursor, limit)
            open_flags = flags.open_by_order(session, [order.id for order in page.orders])
            orders = [documents.order_summary(order, open_flags[order.id]) for order in page.orders]
    except (ValueError, search.BadCursor) as error:
        return error_response(400, str(error))
    return jsonify(orders=orders, next_cursor=page.next_cursor)


@bp.post("/replay")
def replay_webhooks():
    """Apply stored webhooks again: `{"ids": [...]}` or a filter (`status`, `source`,
    `since`, `until`), `dry_run` to only count them. Replaying a processed one changes
    nothing; a failed or parked one gets a fresh set of attempts."""
    edge = current_app.extensions["ordertrack"]
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error_response(400, "expected a JSON object: ids, or status, source, since, until")
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        # "false" as text would be truthy: a caller meaning to count would replay instead.
        return error_response(400, "dry_run must be true or false")
    try:
        filters = replay_filter(body)
        report = replay.replay(
            edge.durable_sessions,
            filters,
            lambda ids: send_many(edge.runtime.actors.process_event, ids),
            dry_run=dry_run,
        )
    except ValueError as error:
        return error_response(400, str(error))
    return jsonify(count=report.count, ids=list(report.ids), dry_run=report.dry_run), 202


@bp.get("/orders/<platform>/<external_id>")
def get_order(platform: str, external_id: str):
    with snapshot(current_app.extensions["ordertrack"].sessions) as session:
        order = documents.find_order(session, platform, external_id)
        if order is None:
            return error_response(404, f"no {platform} order {external_id}")
        return jsonify(documents.order_document(session, order, _calendar()))


@bp.get("/shipments/<carrier>/<tracking_number>")
def get_shipment(carrier: str, tracking_number: str):
    number = "".join(tracking_number.split()).upper()
    with snapshot(current_app.extensions["ordertrack"].sessions) as session:
        shipment = documents.find_shipment(session, carrier, number)
        if shipment is None:
            return error_response(404, f"no {carrier} shipment {number}")
        calendar = _calendar()
        learned = documents.learned_estimates(session, shipment.order, calendar)
        document = documents.shipment_document(shipment, learned.get(shipment.key))
        document["order"] = documents.order_document(session, shipment.order, calendar)
        return jsonify(document)


def _calendar():
    """The shop's business days, which date the learned estimates."""
    return current_app.extensions["ordertrack"].settings.calendar()


@bp.get("/notifications")
def list_notifications():
    """`?status=failed`: every message that did not go out, newest first, with the reason."""
    status = request.args.get("status", OutboxStatus.FAILED)
    if status not in OutboxStatus.ALL:
        return error_response(400, f"status must be one of {', '.join(OutboxStatus.ALL)}")
    with current_app.extensions["ordertrack"].sessions() as session:
        return jsonify(notifications=documents.notifications_with_status(session, status))


@bp.post(f"/notifications/<{ROW_ID}:outbox_id>/resend")
def resend_notification(outbox_id: int):
    """Try a failed message again (the merchant fixed the address, the endpoint, the number):
    its attempts start again from zero; it still goes out at most once."""
    edge = current_app.extensions["ordertrack"]
    with edge.durable_sessions.begin() as session:
        row = resend.mark_for_resend(session, outbox_id)
        if row is None:
            return error_response(404, f"no notification {outbox_id}")
        if row.status != OutboxStatus.PENDING:
            return error_response(409, f"notification {outbox_id} is {row.status}, not failed")
        document = documents.notification_document(row)
    edge.runtime.actors.send_notification.send(outbox_id)
    return jsonify(document), 202


@bp.get("/unknown-codes")
def get_unknown_codes():
    """Provider status codes no table maps, counted: kept as `unknown`, never guessed."""
    with current_app.extensions["ordertrack"].sessions() as session:
        return jsonify(unknown_codes=documents.unknown_codes(session))
