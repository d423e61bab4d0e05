"""Returns in the console: the list, and each step of a return's line at the merchant's word
(approve, reject, the return parcel's tracking number, received, refunded). Staff handle
returns; the step is the same use case the API runs (ordertrack.returns.steps)."""

from flask import flash, redirect, request, url_for

from ordertrack.notifications import outbox
from ordertrack.returns import steps
from ordertrack.returns.line import ReturnStatus
from ordertrack.store import returns
from service.console import bp
from service.console.web import edge, refuse, render
from workers.actors import send_when_due

#: The form's step -> where the return goes.
STEPS = {
    "approve": ReturnStatus.APPROVED,
    "reject": ReturnStatus.REJECTED,
    "tracking": ReturnStatus.IN_TRANSIT,
    "received": ReturnStatus.RECEIVED,
    "refunded": ReturnStatus.REFUNDED,
}
#: What each step's button says.
LABELS = {
    ReturnStatus.APPROVED: "Approve",
    ReturnStatus.REJECTED: "Reject",
    ReturnStatus.RECEIVED: "Mark received",
    ReturnStatus.REFUNDED: "Mark refunded",
}
NOTE_MAX, NUMBER_MAX = 2000, 64
LIST_MAX = 200


@bp.context_processor
def return_steps() -> dict:
    """What the return action forms need, on every console page that shows a return."""
    return {
        "next_steps": steps.next_steps,
        "step_names": {target: name for name, target in STEPS.items()},
        "step_labels": LABELS,
    }


@bp.get("/returns")
def return_list():
    status = request.args.get("status") or None
    if status and status not in set(ReturnStatus):
        return refuse(400, "Unknown status", f"There is no return status {status!r}.")
    with edge().sessions() as session:
        found = returns.search(session, returns.Filters(status=status), LIST_MAX)
        rows = [returns.document(row, order) for row, order in found]
    return render(
        "console/returns.html", rows=rows, chosen=status or "", statuses=list(ReturnStatus)
    )


@bp.post("/returns/<int:return_id>/<step>")
def return_step(return_id: int, step: str):
    if step not in STEPS:
        return refuse(404, "No such step", f"A return has no step {step!r}.")
    note = _text(request.form.get("note"), NOTE_MAX)
    tracking = None
    if step == "tracking":
        number = "".join((request.form.get("tracking_number") or "").split()).upper()
        carrier = (request.form.get("carrier") or "").strip()
        if not _text(number, NUMBER_MAX) or not _text(carrier, NUMBER_MAX):
            flash("A return parcel needs its tracking number and carrier.")
            return _back()
        tracking = (number, carrier)
    try:
        with edge().durable_sessions.begin() as session:
            moved = steps.move_by_merchant(
                session,
                return_id,
                STEPS[step],
                outbox.plan_for(edge().settings),
                note=note,
                tracking=tracking,
            )
    except steps.NoSuchReturn:
        return refuse(404, "No such return", f"There is no return {return_id}.")
    except steps.StepNotAllowed as error:
        flash(f"Return #{return_id} is {error.current}: it cannot become {error.target}.")
        return _back()
    for queued in moved.news:  # after the commit: the customer hears of the step
        send_when_due(edge().runtime.actors.send_notification, queued.id, queued.due_at)
    flash(f"Return #{return_id} is {moved.row.status} now.")
    return _back()


def _text(value: str | None, longest: int) -> str | None:
    """Text cut to its column's width (service.nul_guard refused a NUL); None when empty."""
    text = (value or "").strip()[:longest]
    return text or None


def _back():
    back = request.form.get("back", "")
    if not back.startswith("/admin/") or back.startswith("//"):
        back = url_for("console.return_list")
    return redirect(back, 303)
