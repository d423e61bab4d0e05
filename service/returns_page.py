"""The customer's side of returns: the section of the tracking page (`returns_context`, for
the page's `{% block returns %}`), and `POST /t/<token>/returns`, which checks the signed
link, the form's own signed token, the window and the quantities, then records the request
and sends the customer back to the page (303). A refused request shows why (400)."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, Response, current_app, redirect, render_template, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.datastructures import MultiDict

from ordertrack.errors import NulInPath
from ordertrack.notifications import outbox
from ordertrack.notifications.links import read_tracking_token
from ordertrack.returns import line
from ordertrack.store import returns
from ordertrack.store.models import Order
from ordertrack.tracking_page.page import brand_colors
from workers.actors import send_when_due

bp = Blueprint("returns_page", __name__)

_FORM_SALT = "return-form"
#: The most of one line a quantity select offers, however many were ordered.
MAX_SELECT = 20


class Refused(Exception):
    """The request cannot be recorded; the message is for the customer."""


@bp.errorhandler(NulInPath)
def _nul_in_link(exc: NulInPath) -> Response:
    """service.nul_guard refused the link: the same page as any link we did not sign."""
    return _not_found()


@bp.post("/t/<token>/returns")
def request_return(token: str):
    edge = current_app.extensions["ordertrack"]
    order_id = read_tracking_token(edge.link_keys, token, edge.settings.tracking_link_days)
    if order_id is None:
        return _not_found()
    with edge.durable_sessions.begin() as session:
        order = returns.lock_order(session, order_id)
        if order is None:
            return _not_found()
        try:
            created = _record(session, order, request.form)
        except Refused as refused:
            context = returns_context(session, order, token, error=str(refused), form=request.form)
            return _page("tracking/returns_page.html", 400, returns=context, page_url=f"/t/{token}")
        plan = outbox.plan_for(edge.settings)
        news = outbox.add_return_news(session, order, created.id, "requested", plan)
    for queued in news:  # after the commit: the customer hears that it was recorded
        send_when_due(edge.runtime.actors.send_notification, queued.id, queued.due_at)
    return redirect(f"/t/{token}#return", code=303)


def _record(session, order: Order, form: MultiDict):
    edge = current_app.extensions["ordertrack"]
    if read_form_token(edge.link_keys, form.get("form_token", ""), _max_age()) != order.id:
        raise Refused("This form has expired. Please reload the page and try again.")
    now = datetime.now(UTC)
    window = returns.return_window(session, order, now, edge.settings.return_window_days)
    if not window.open:
        raise Refused(window.reason)
    reason = form.get("reason", "")
    if reason not in line.REASONS:
        raise Refused("Please choose a reason for the return.")
    # Browsers send a textarea's line breaks as CRLF but count them as one (maxlength).
    comment = form.get("comment", "").replace("\r\n", "\n").strip()
    if len(comment) > line.COMMENT_MAX:
        raise Refused(f"Please keep the comment to at most {line.COMMENT_MAX} characters.")
    quantities = _quantities(session, order, form)
    return returns.create(session, order, reason, comment or None, quantities, now)


def _quantities(session, order: Order, form: MultiDict) -> dict[str, int]:
    """`qty_<line item id>` for each item: a whole number, at most what is still returnable."""
    still = {item["external_id"]: item for item in returns.returnable(session, order)}
    chosen: dict[str, int] = {}
    for key, value in form.items():
        if not key.startswith("qty_"):
            continue
        item = still.get(key[4:])
        if item is None:
            raise Refused("The form names an item that is not in this order.")
        if not (value.isascii() and value.isdigit()) or len(value) > 4:
            raise Refused(f"Please choose how many of “{item['title']}” to return.")
        if int(value) > item["returnable"]:
            raise Refused(f"You can return at most {item['returnable']} of “{item['title']}”.")
        if int(value):
            chosen[item["external_id"]] = int(value)
    if not chosen:
        raise Refused("Please choose at least one item to return.")
    return chosen


def returns_context(
    session, order: Order, token: str, *, error: str | None = None, form=None, now=None
) -> dict:
    """What `tracking/returns.html` shows, as the variable `returns` (see the template)."""
    edge = current_app.extensions["ordertrack"]
    settings = edge.settings
    now = now or datetime.now(UTC)
    window = returns.return_window(session, order, now, settings.return_window_days)
    zone = _zone(settings.shop_timezone)
    return {
        "action": f"/t/{token}/returns",
        "form_token": form_token(edge.link_keys, order.id),
        "window_open": window.open,
        "why_not": window.reason,
        "closes_on": _day(window.closes_at, zone),
        "window_days": settings.return_window_days,
        "policy_text": settings.return_policy_text,
        "items": [_item(item) for item in returns.returnable(session, order)],
        "reasons": list(line.REASONS.items()),
        "comment_max": line.COMMENT_MAX,
        "existing": [_existing(row, zone) for row in returns.order_returns(session, order.id)],
        "error": error,
        "form": {key: (form or {}).get(key, "") for key in _form_keys(order)},
    }


def _item(item: dict) -> dict:
    return item | {"choices": list(range(0, min(item["returnable"], MAX_SELECT) + 1))}


def _existing(row, zone: ZoneInfo) -> dict:
    return {
        "id": row.id,
        "status": row.status,
        "status_words": line.STATUS_WORDS[line.ReturnStatus(row.status)],
        "reason": line.REASONS.get(row.reason, row.reason),
        "requested_on": _day(row.created_at, zone),
        "items": [{"title": i.title, "quantity": i.quantity} for i in row.items],
        "note": row.note,
        "tracking_number": row.tracking_number,
        "carrier": row.carrier,
    }


def _form_keys(order: Order) -> list[str]:
    return ["reason", "comment"] + [f"qty_{item['external_id']}" for item in order.items or ()]


def form_token(keys: tuple[bytes, ...], order_id: int) -> str:
    """The return form's own signed token: a POST without the page's form behind it fails."""
    return URLSafeTimedSerializer(list(reversed(keys)), salt=_FORM_SALT).dumps(order_id)


def read_form_token(keys: tuple[bytes, ...], token: str, max_age_seconds: int) -> int | None:
    serializer = URLSafeTimedSerializer(list(reversed(keys)), salt=_FORM_SALT)
    try:
        value = serializer.loads(token, max_age=max_age_seconds)
    except (BadSignature, ValueError, TypeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _max_age() -> int:
    """A form lives as long as the link that showed it."""
    return current_app.extensions["ordertrack"].settings.tracking_link_days * 86400


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _day(moment: datetime | None, zone: ZoneInfo) -> str | None:
    return f"{moment.astimezone(zone):%d %B %Y}".lstrip("0") if moment else None


def _not_found() -> Response:
    """The tracking page's own answer to a link it does not know: it reveals nothing."""
    return _page("tracking/not_found.html", 404)


def _page(template: str, status: int, **context) -> Response:
    """On the tracking page's layout, with its headers: never cached, never referred on."""
    settings = current_app.extensions["ordertrack"].settings
    background, text = brand_colors(settings.brand_color)
    body = render_template(
        template, shop_name=settings.shop_name, brand=background, brand_text=text, **context
    )
    headers = {
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Robots-Tag": "noindex, nofollow",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline';"
        " form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    }
    return Response(body, status=status, mimetype="text/html", headers=headers)
