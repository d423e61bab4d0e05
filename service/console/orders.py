"""The order list (search, filters including open delay flags, keyset paging through
ordertrack.store.search) and an order's page: status, open delay flags, parcels, timeline
with source webhooks, messages, returns, actions."""

from datetime import UTC, datetime

from flask import flash, redirect, request, url_for

from ordertrack import delays, replay
from ordertrack.statuses import OrderStatus
from ordertrack.store import console, documents, flags, returns, search
from ordertrack.store.db import snapshot
from service.console import bp
from service.console.actions import replay_webhooks, resend_message
from service.console.web import admin_only, edge, refuse, render
from service.queries import order_query

FILTERS = ("q", "status", "platform", "carrier", "since", "until", "flag")


@bp.get("/orders")
def orders():
    form = {name: request.args.get(name, "") for name in FILTERS}
    page, error, now = None, None, datetime.now(UTC)
    try:
        filters, cursor, limit = order_query(request.args)
        with snapshot(edge().sessions) as session:
            page = search.search_orders(session, filters, cursor, limit)
            open_flags = flags.open_by_order(session, [order.id for order in page.orders])
            rows = [_row(order, open_flags[order.id], now) for order in page.orders]
    except (ValueError, search.BadCursor) as problem:
        error, rows = str(problem), []
    next_url = None
    if page and page.next_cursor:
        kept = {name: value for name, value in form.items() if value}
        next_url = url_for("console.orders", **kept, cursor=page.next_cursor)
    return render(
        "console/orders.html",
        status=400 if error else 200,
        form=form,
        rows=rows,
        error=error,
        next_url=next_url,
        statuses=list(OrderStatus),
        flag_kinds={kind: delays.WORDS[kind] for kind in delays.KINDS},
    )


def _row(order, open_flags, now) -> dict:
    """The order's summary, and its open flags as people read them (oldest first)."""
    summary = documents.order_summary(order, open_flags)
    summary["customer"] = order.customer_name
    summary["open_flags"] = [documents.flag_row(flag, order, now) for flag in open_flags]
    return summary


@bp.get("/orders/<platform>/<external_id>")
def order(platform: str, external_id: str):
    with snapshot(edge().sessions) as session:
        found = documents.find_order(session, platform, external_id)
        if found is None:
            return refuse(404, "No such order", f"There is no {platform} order {external_id}.")
        open_flags = flags.open_by_order(session, [found.id])[found.id]
        now = datetime.now(UTC)
        context = {
            "order": documents.order_summary(found, open_flags),
            "open_flags": [documents.flag_row(flag, found, now) for flag in open_flags],
            "customer": found.customer_name,
            "timeline": console.timeline(session, found.id),
            "notifications": documents.notification_documents(session, found.id),
            "returns": [
                returns.document(r, found) for r in returns.order_returns(session, found.id)
            ],
            "webhook_count": len(console.order_inbox_ids(session, found.id)),
        }
    return render("console/order.html", **context)


@bp.post("/orders/<platform>/<external_id>/replay")
@admin_only
def replay_order(platform: str, external_id: str):
    with edge().sessions() as session:
        found = documents.find_order(session, platform, external_id)
        ids = console.order_inbox_ids(session, found.id) if found else []
    if not ids:
        flash("This order has no webhooks to replay.")
    else:
        report = replay_webhooks(replay.ReplayFilter(ids=tuple(ids)))
        flash(f"Replaying {report.count} webhook{'s' if report.count != 1 else ''} of this order.")
    return redirect(url_for("console.order", platform=platform, external_id=external_id), 303)


@bp.post("/notifications/<int:outbox_id>/resend")
def resend(outbox_id: int):
    """Staff may resend: a failed message is theirs to put right."""
    _, message = resend_message(outbox_id)
    flash(message)
    back = request.form.get("back", "")
    if not back.startswith("/admin/") or back.startswith("//"):
        back = url_for("console.orders")
    return redirect(back, 303)
