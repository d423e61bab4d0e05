"""The inbox: what arrived in the last 24 hours by source and outcome, the webhooks that need
a person (failed, parked) with their error, each one's payload, unknown codes, dead letters,
and replay of one webhook or of a filtered set (counted first, then confirmed)."""

import json
from datetime import UTC, datetime

from flask import flash, redirect, request, url_for

from ordertrack import replay
from ordertrack.masking import mask_payload
from ordertrack.store import console
from ordertrack.store.models import InboxStatus
from service.console import bp
from service.console.actions import replay_webhooks
from service.console.web import admin_only, edge, is_admin, refuse, render
from service.queries import replay_filter

SHOWN = {"failed": (InboxStatus.FAILED,), "parked": (InboxStatus.PARKED,)}
REPLAY_FIELDS = ("source", "status", "since", "until")


@bp.get("/inbox")
def inbox():
    shown = request.args.get("show", "")
    statuses = SHOWN.get(shown, console.NEEDS_A_PERSON)
    before = request.args.get("before", "")
    before_id = int(before) if before.isdigit() else None
    with edge().sessions() as session:
        counts = console.counts_since(session, console.last_day(datetime.now(UTC)))
        rows, next_id = console.needing_a_person(session, statuses, before_id)
        dead, _ = console.needing_a_person(
            session, (InboxStatus.FAILED,), min_attempts=edge().settings.max_attempts, limit=20
        )
        unknown = console.unknown_codes(session)
    next_url = url_for("console.inbox", show=shown or None, before=next_id) if next_id else None
    return render(
        "console/inbox.html",
        counts=counts,
        columns=sorted({status for row in counts.values() for status in row}),
        rows=rows,
        shown=shown,
        next_url=next_url,
        dead=dead,
        unknown=unknown,
        sources=sorted(edge().credentials),
        statuses=replay.REPLAYABLE,
    )


@bp.get("/inbox/<int:inbox_id>")
def webhook(inbox_id: int):
    with edge().sessions() as session:
        row = console.webhook(session, inbox_id)
        if row is None:
            return refuse(404, "No such webhook", f"There is no webhook {inbox_id} in the inbox.")
        body, masked = _payload(bytes(row.body), whole=is_admin())
        return render("console/webhook.html", row=row, body=body, masked=masked)


def _payload(raw: bytes, *, whole: bool) -> tuple[str, bool]:
    """The body pretty-printed (Jinja escapes it); for staff, personal data masked. A body
    that is not JSON is shown to admins only: it cannot be masked field by field."""
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        if whole:
            return raw.decode("utf-8", "replace"), False
        return "(not JSON: only admins see this body, since it cannot be masked)", True
    shown = parsed if whole else mask_payload(parsed)
    return json.dumps(shown, indent=2, ensure_ascii=False, sort_keys=False), not whole


@bp.post("/inbox/<int:inbox_id>/replay")
@admin_only
def replay_one(inbox_id: int):
    report = replay_webhooks(replay.ReplayFilter(ids=(inbox_id,)))
    flash(
        f"Webhook {inbox_id} is replaying."
        if report.count
        else f"Webhook {inbox_id} cannot be replayed (it is ignored, pending or gone)."
    )
    return redirect(url_for("console.webhook", inbox_id=inbox_id), 303)


@bp.get("/replay")
@admin_only
def replay_confirm():
    """The dry run: how many webhooks the filter names, and a button to replay them."""
    form = {name: request.args.get(name, "") for name in REPLAY_FIELDS}
    try:
        filters = replay_filter({k: v for k, v in form.items() if v})
        report = replay_webhooks(filters, dry_run=True)
    except ValueError as error:
        return render("console/replay.html", status=400, form=form, error=str(error))
    return render("console/replay.html", form=form, report=report)


@bp.post("/replay")
@admin_only
def replay_set():
    form = {name: request.form.get(name, "") for name in REPLAY_FIELDS}
    try:
        filters = replay_filter({k: v for k, v in form.items() if v})
        report = replay_webhooks(filters)
    except ValueError as error:
        return render("console/replay.html", status=400, form=form, error=str(error))
    flash(f"Replaying {report.count} webhook{'s' if report.count != 1 else ''}.")
    return redirect(url_for("console.inbox"), 303)
