"""The customer's tracking page: /t/<token> (the signed link in every message), /track (find
an order by its number and email address), and /t/<token>/events (server-sent events that
tell an open page its order changed). Nothing about an order is shown without a valid token
or a matching pair, and a miss never says which half was wrong.

The look-up is limited twice, in Redis when REDIS_URL is set (every process counts together):
per client (an IPv4 address, an IPv6 /64) and per order number whoever asks, so neither many
addresses nor many order numbers make guessing cheap. Only misses count against an order
number; once it has had ORDER_LOOKUP_LIMIT, even the right pair waits, or the answer would
tell a guesser when it guessed right.

A process serves at most SSE_MAX_STREAMS event streams at once (service/live_streams.py);
past that a page is answered 503 and its script polls the fragment instead."""

import secrets
import time
from datetime import datetime

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for

from ordertrack import tracking_page
from ordertrack.errors import NulCharacter, NulInPath
from ordertrack.notifications.links import read_tracking_token, tracking_token
from ordertrack.store.db import snapshot
from ordertrack.store.models import Order
from ordertrack.tracking_page.page import brand_colors
from service import live_streams, returns_page
from service.errors import error_response
from service.rate_limit import Windows, client_key, redis_client, windows

bp = Blueprint("tracking", __name__)

#: /track look-ups per client (IPv4 address, IPv6 /64) in any LOOKUP_WINDOW seconds.
LOOKUP_LIMIT = 10
LOOKUP_WINDOW = 600
#: Look-ups of one order number that found nothing, from anyone, in any ORDER_LOOKUP_WINDOW.
ORDER_LOOKUP_LIMIT = 10
ORDER_LOOKUP_WINDOW = 3600
#: The event stream: how often it checks the order, sends a comment to keep proxies from
#: closing it, and how long it lives before the browser's EventSource reconnects. A stream
#: holds a web thread while it is open (service/live_streams.py says why it is short).
POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
STREAM_SECONDS = 60.0
RETRY_MS = 5000
#: A page refused a stream (every slot taken) looks for news this often instead.
FALLBACK_POLL_SECONDS = 30
_LIMITS = "ordertrack.tracking_limits"


@bp.record_once
def _setup(state) -> None:
    settings = state.app.extensions["ordertrack"].settings
    client = redis_client(settings.redis_url) if settings.redis_url else None
    state.app.extensions[_LIMITS] = (
        windows(client, "track:client", LOOKUP_LIMIT, LOOKUP_WINDOW),
        windows(client, "track:order", ORDER_LOOKUP_LIMIT, ORDER_LOOKUP_WINDOW),
    )
    live_streams.init_app(state.app, settings.sse_max_streams)


def _edge():
    return current_app.extensions["ordertrack"]


def _order_id(token: str) -> int | None:
    edge = _edge()
    return read_tracking_token(edge.link_keys, token, edge.settings.tracking_link_days)


@bp.errorhandler(NulCharacter)
def _nul(exc: NulCharacter) -> Response:
    """service.nul_guard refused it: a look-up with a NUL matches no order (400, the form
    again); a link holding one is a link we did not sign."""
    if request.endpoint == "tracking.lookup" and not isinstance(exc, NulInPath):
        return _render("tracking/lookup.html", status=400, missed=True)
    return _not_found()


@bp.get("/t/<token>")
def page(token: str):
    order_id = _order_id(token)
    if order_id is None:
        return _not_found()
    edge = _edge()
    fragment = request.args.get("fragment") == "1"
    with snapshot(edge.sessions) as session:
        view = tracking_page.read_view(
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
        poll_seconds=FALLBACK_POLL_SECONDS,
    )


@bp.get("/track")
def lookup_form():
    return _render("tracking/lookup.html")


@bp.post("/track")
def lookup():
    number = request.form.get("order_number", "")[:200]
    email = request.form.get("email", "")[:320]
    per_client, per_order = current_app.extensions[_LIMITS]
    wait = _attempt(per_client, per_order, number)
    if wait is not None:
        response = _render("tracking/rate_limited.html", status=429)
        response.headers["Retry-After"] = str(max(1, round(wait)))
        return response
    with _edge().sessions() as session:
        order_id = tracking_page.find_order_id(session, number, email)
    if order_id is None:
        return _render("tracking/lookup.html", missed=True)
    per_order.forgive(tracking_page.order_number_key(number))  # found: no guess
    token = tracking_token(_edge().link_keys, order_id)
    return redirect(url_for(".page", token=token), code=303)


def _attempt(per_client: Windows, per_order: Windows, number: str) -> float | None:
    """Seconds to wait, or None: the client's limit first, then the order number's."""
    wait = per_client.attempt(client_key(request.remote_addr))
    order_key = tracking_page.order_number_key(number)
    if wait is None and order_key:
        wait = per_order.attempt(order_key)
    return wait


@bp.get("/t/<token>/events")
def events(token: str):
    order_id = _order_id(token)
    if order_id is None:
        return _not_found()
    sessions = _edge().sessions
    with sessions() as session:
        current = tracking_page.updated_at(session, order_id)
    if current is None:
        return _not_found()
    slots = live_streams.slots(current_app)
    if not slots.take():
        return _no_stream_slot()
    known = request.headers.get("Last-Event-ID") or request.args.get("since") or ""
    stream = _stream(sessions, order_id, _parsed(known) or current)
    response = Response(stream, mimetype="text/event-stream")
    response.call_on_close(slots.give_back)  # the server closes it however the stream ends
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # nginx would otherwise hold the events
    return response


def _no_stream_slot() -> Response:
    """Every stream slot of this process is taken: the page's script polls instead."""
    response, status = error_response(503, "every live-update stream is taken: poll the page")
    response.status_code = status
    response.headers["Retry-After"] = str(FALLBACK_POLL_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


def _stream(sessions, order_id: int, known: datetime):
    """`retry`, then an `update` (id: the order's updated_at) each time the order changes,
    a comment every KEEPALIVE_SECONDS; ends after STREAM_SECONDS. One query a second."""
    yield f"retry: {RETRY_MS}\n\n"
    started = last_sent = time.monotonic()
    while time.monotonic() - started < STREAM_SECONDS:
        time.sleep(POLL_SECONDS)
        with sessions() as session:
            now = tracking_page.updated_at(session, order_id)
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
