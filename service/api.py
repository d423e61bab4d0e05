"""The read API: an order, or a shipment's order, with status, shipments, history and
notifications. Bearer API_TOKEN, compared in constant time."""

import hmac

from flask import Blueprint, current_app, jsonify, request

from ordertrack.notifications import resend
from ordertrack.store import views
from ordertrack.store.models import OutboxStatus
from service.errors import error_response

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.before_request
def refuse_nul_in_path():
    """A NUL in a path value would reach the database as a parameter it cannot hold."""
    if any("\x00" in str(value) for value in (request.view_args or {}).values()):
        return error_response(404, "no such resource")
    return None


@bp.before_request
def require_token():
    token = current_app.extensions["ordertrack"].settings.api_token
    if not token:
        return error_response(401, "the API is disabled: set API_TOKEN on the server")
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), token.encode()):
        return error_response(401, "missing or wrong bearer token")
    return None


@bp.get("/orders/<platform>/<external_id>")
def get_order(platform: str, external_id: str):
    with current_app.extensions["ordertrack"].sessions() as session:
        order = views.find_order(session, platform, external_id)
        if order is None:
            return error_response(404, f"no {platform} order {external_id}")
        return jsonify(views.order_document(session, order))


@bp.get("/shipments/<carrier>/<tracking_number>")
def get_shipment(carrier: str, tracking_number: str):
    number = "".join(tracking_number.split()).upper()
    with current_app.extensions["ordertrack"].sessions() as session:
        shipment = views.find_shipment(session, carrier, number)
        if shipment is None:
            return error_response(404, f"no {carrier} shipment {number}")
        document = views.shipment_document(shipment)
        document["order"] = views.order_document(session, shipment.order)
        return jsonify(document)


@bp.get("/notifications")
def list_notifications():
    """`?status=failed`: every message that did not go out, newest first, with the reason."""
    status = request.args.get("status", OutboxStatus.FAILED)
    if status not in OutboxStatus.ALL:
        return error_response(400, f"status must be one of {', '.join(OutboxStatus.ALL)}")
    with current_app.extensions["ordertrack"].sessions() as session:
        return jsonify(notifications=views.notifications_with_status(session, status))


@bp.post("/notifications/<int:outbox_id>/resend")
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
        document = views.notification_document(row)
    edge.runtime.actors.send_notification.send(outbox_id)
    return jsonify(document), 202


@bp.get("/unknown-codes")
def get_unknown_codes():
    """Provider status codes no table maps, counted: kept as `unknown`, never guessed."""
    with current_app.extensions["ordertrack"].sessions() as session:
        return jsonify(unknown_codes=views.unknown_codes(session))
