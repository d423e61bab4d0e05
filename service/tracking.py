"""The customer's tracking page: /t/<token> (the signed link in every message), /track (find
an order by its number and email address), and /t/<token>/events (server-sent events that
tell an open page its order changed). Nothing about an order is shown without a valid token
or a matching pair, and a miss never says which half was wrong."""

import secrets
import time
from datetime import datetime

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for

from ordertrack import tracking
from ordertrack.notifications.links import read_tracking_token, tracking_token
from ordertrack.store.db import snapshot
from ordertrack.store.models import Order
from ordertrack.tracking.page import brand_colors
from service import returns_page
from service.rate_limit import SlidingWindowLimiter

bp = Blueprint("tracking", __name__)

#: /track look-ups per client address in any LOOKUP_WINDOW seconds.
LOOKUP_LIMIT = 10
LOOKUP_WINDOW = 600
#: The event stream: how often it checks the order, sends a comment to keep proxies from
#: closing it, and how long it lives before the browser's EventSource reconnects.
POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
STREAM_SECONDS = 300.0
RETRY_MS = 5000
_LIMITER = "ordertrack.tracking_limiter"


@bp.record_once
def _limiter(state) -> None:
    state.app.extensions[_LIMITER] = SlidingWindowLimiter(LOOKUP_LIMIT, LOOKUP_WINDOW)


def _edge():
    return current_app.extensions["ordertrack"]


def _order_id(token: str) -> int | None:
    edge = _edge()
    return read_tracking_token(edge.link_keys, token, edge.settings.tracking_link_days)


@bp.get("/t/<token>")
def page(token: str):
    order_id = _order_id(token)
    if order_id is None:
        return _not_found()
    edge = _edge()
    fragment = request.args.get("fragment") == "1"
    with snapshot(edge.sessions) as session:
        view = tracking.read_view(
            session, order_id, edge.settings.shop_timezone, calendar=edge.settings.calendar()
        )
        if view is None:
            return _not_found()
        # The live fragment leaves the returns section alone: no form wiped mid-entry.
        order = session.get(Order, order_id)
        returns = None if fragment else returns_page.returns_context(session, order, token)
    return _render(
        "tracking/_live.html" if fragment else "tracking/page.html",
        view=view,
        returns=returns,
        events_url=url_for(".events", token=token),
        fragment_url=url_for(".page", token=token, fragment=1),
        page_url=url_for(".page", token=token),
    )


@bp.get("/track")
def lookup_form():
    return _render("tracking/lookup.html")


@bp.post("/track")
def lookup():
    wait = current_app.extensions[_LIMITER].attempt(request.remote_addr or "unknown")
    if wait is not None:
        response = _render("tracking/rate_limited.html", status=429)
        response.headers["Retry-After"] = str(max(1, round(wait)))
        return response
    number = request.form.get("order_number", "")[:200]
    email = request.form.get("email", "")[:320]
    with _edge().sessions() as session:
        order_id = tracking.find_order_id(session, number, email)
    if order_id is None:
        return _render("tracking/lookup.html", missed=True)
    token = tracking_token(_edge().link_keys, order_id)
    return redirect(url_for(".page", token=token), code=303)


@bp.get("/t/<token>/events")
def events(token: str):
    order_id = _order_id(token)
    if order_id is None:
        return _not_found()
    sessions = _edge().sessions
    with sessions() as session:
        current = tracking.updated_at(session, order_id)
    if current is None:
        return _not_found()
    known = request.headers.get("Last-Event-ID") or request.args.get("since") or ""
    stream = _stream(sessions, order_id, _parsed(known) or current)
    response = Response(stream, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # nginx would otherwise hold the events
    return response


def _stream(sessions, order_id: int, known: datetime):
    """`retry`, then an `update` (id: the order's updated_at) each time the order changes,
    a comment every KEEPALIVE_SECONDS; ends after STREAM_SECONDS. One query a second."""
    yield f"retry: {RETRY_MS}\n\n"
    started = last_sent = time.monotonic()
    while time.monotonic() - started < STREAM_SECONDS:
        time.sleep(POLL_SECONDS)
        with sessions() as session:
            now = tracking.updated_at(session, order_id)
        if now is None:
            return
        if now != known:
            known = now
            last_sent = time.monotonic()
            yield f"id: {now.isoformat()}\nevent: update\ndata: {now.isoformat()}\n\n"
        elif time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
            last_sent = time.monotonic()
            yield ": keep-alive\n\n"


def _parsed(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _not_found() -> Response:
    """The same page whatever was wrong: forged, expired, or an order that is gone."""
    return _render("tracking/not_found.html", status=404)


def _render(template: str, *, status: int = 200, **context) -> Response:
    settings = _edge().settings
    background, text = brand_colors(settings.brand_color)
    nonce = secrets.token_urlsafe(16)
    body = render_template(
        template,
        shop_name=settings.shop_name,
        brand=background,
        brand_text=text,
        nonce=nonce,
        **context,
    )
    response = Response(body, status=status, mimetype="text/html")
    response.headers.update(_security_headers(nonce))
    return response


def _security_headers(nonce: str) -> dict[str, str]:
    return {
        # The token in the address is the key to the page: never sent on to a carrier's site.
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Robots-Tag": "noindex, nofollow",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": (
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:;"
            f" script-src 'nonce-{nonce}'; connect-src 'self'; form-action 'self';"
            " base-uri 'none'; frame-ancestors 'none'"
        ),
    }
