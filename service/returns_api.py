"""The merchant's returns API, bearer API_TOKEN like the read API: list and filter, one
return with its history, each step of its line, and the list as CSV. A move the line does
not allow is a 409 naming where the return stands."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

from flask import Blueprint, Response, current_app, request

from ordertrack.notifications import outbox
from ordertrack.returns import line, steps
from ordertrack.returns.line import ReturnStatus
from ordertrack.store import returns
from ordertrack.store.models import Order
from service.api import ROW_ID, require_token
from service.errors import error_response
from workers.actors import send_when_due

bp = Blueprint("returns_api", __name__, url_prefix="/api/v1")
bp.before_request(require_token)

NOTE_MAX = 2000
#: The JSON list shows at most this many (newest first); the CSV export has them all.
LIST_MAX = 1000
_CSV_COLUMNS = (
    "id", "created_at", "updated_at", "status", "reason", "platform", "order_id",
    "order_name", "items", "comment", "tracking_number", "carrier", "note",
)  # fmt: skip
#: A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@bp.get("/returns")
def list_returns():
    filters, problem = _filters()
    if problem:
        return error_response(400, problem)
    with _edge().sessions() as session:
        found = returns.search(session, filters, LIST_MAX)
        return {"returns": [returns.document(row, order) for row, order in found]}


@bp.get("/returns.csv")
def export_returns():
    filters, problem = _filters()
    if problem:
        return error_response(400, problem)
    with _edge().sessions() as session:
        rows = [_csv_row(returns.document(r, o)) for r, o in returns.search(session, filters)]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_CSV_COLUMNS)
    writer.writerows([[_safe_cell(cell) for cell in row] for row in rows])
    headers = {"Content-Disposition": 'attachment; filename="returns.csv"'}
    return Response(out.getvalue(), mimetype="text/csv", headers=headers)


@bp.get(f"/returns/<{ROW_ID}:return_id>")
def get_return(return_id: int):
    with _edge().sessions() as session:
        row = returns.get(session, return_id)
        if row is None:
            return error_response(404, f"no return {return_id}")
        return returns.document(row, _order(session, row), history=True)


@bp.post(f"/returns/<{ROW_ID}:return_id>/approve")
def approve(return_id: int):
    return _step(return_id, ReturnStatus.APPROVED)


@bp.post(f"/returns/<{ROW_ID}:return_id>/reject")
def reject(return_id: int):
    return _step(return_id, ReturnStatus.REJECTED)


@bp.post(f"/returns/<{ROW_ID}:return_id>/tracking")
def attach_tracking(return_id: int):
    body = _json()
    number = "".join(str(body.get("tracking_number") or "").split()).upper()
    carrier = str(body.get("carrier") or "").strip()
    if not _text(number, 64) or not _text(carrier, 64):
        return error_response(400, "tracking_number and carrier are required (64 characters)")
    return _step(return_id, ReturnStatus.IN_TRANSIT, tracking=(number, carrier))


@bp.post(f"/returns/<{ROW_ID}:return_id>/received")
def mark_received(return_id: int):
    return _step(return_id, ReturnStatus.RECEIVED)


@bp.post(f"/returns/<{ROW_ID}:return_id>/refunded")
def mark_refunded(return_id: int):
    return _step(return_id, ReturnStatus.REFUNDED)


def _step(return_id: int, target: ReturnStatus, tracking: tuple[str, str] | None = None):
    note = _json().get("note")
    if note is not None and not _text(note, NOTE_MAX):
        return error_response(400, f"note must be text of at most {NOTE_MAX} characters")
    try:
        with _edge().durable_sessions.begin() as session:
            moved = steps.move_by_merchant(
                session, return_id, target, _plan(), note=note, tracking=tracking
            )
            document = returns.document(moved.row, moved.order, history=True)
    except steps.NoSuchReturn as error:
        return error_response(404, str(error))
    except steps.StepNotAllowed as error:
        details = {"current_status": error.current, "requested_status": error.target}
        return error_response(409, str(error), details)
    _send(moved.news)
    return document


def _plan() -> outbox.Plan:
    return outbox.plan_for(_edge().settings)


def _send(news: list[outbox.AddedRow]) -> None:
    """After the commit: the customer hears of the step (quiet hours and all)."""
    for queued in news:
        send_when_due(_edge().runtime.actors.send_notification, queued.id, queued.due_at)


def _text(value: object, longest: int) -> bool:
    """Non-empty text a database column can hold (PostgreSQL refuses NUL)."""
    return isinstance(value, str) and 0 < len(value) <= longest and "\x00" not in value


def _filters() -> tuple[returns.Filters, str | None]:
    args = request.args
    status, reason = args.get("status") or None, args.get("reason") or None
    if status and status not in set(ReturnStatus):
        return returns.Filters(), f"status must be one of {', '.join(ReturnStatus)}"
    if reason and reason not in line.REASONS:
        return returns.Filters(), f"reason must be one of {', '.join(line.REASONS)}"
    try:
        since, until = _when(args.get("since")), _when(args.get("until"), end=True)
    except (ValueError, OverflowError):
        return returns.Filters(), "since and until must be ISO 8601 dates or date-times"
    order = (args.get("order") or "").strip() or None
    return returns.Filters(status, reason, since, until, order), None


def _when(value: str | None, *, end: bool = False) -> datetime | None:
    """A date means the whole day (UTC): `until=2026-11-05` includes the 5th."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        moment = datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start + timedelta(days=1) if end else start


def _csv_row(doc: dict) -> list:
    items = "; ".join(f"{i['quantity']} x {i['title']}" for i in doc["items"])
    order = doc["order"]
    return [
        doc["id"], doc["created_at"], doc["updated_at"], doc["status"], doc["reason"],
        order["platform"], order["external_id"], order["name"], items, doc["comment"],
        doc["tracking_number"], doc["carrier"], doc["note"],
    ]  # fmt: skip


def _safe_cell(value) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _json() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _order(session, row) -> Order:
    return session.get(Order, row.order_id)


def _edge():
    return current_app.extensions["ordertrack"]
