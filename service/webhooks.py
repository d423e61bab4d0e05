"""POST /webhooks/<source>: limit size -> check type -> verify -> parse strictly -> read the
envelope -> commit to the inbox -> 202. The provider module knows the format; this knows HTTP."""

import json
import logging
import time
from functools import lru_cache

from flask import Blueprint, Response, current_app, g, request
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import ClientDisconnected

from ordertrack import providers, strictjson
from ordertrack.errors import (
    MissingFields,
    PayloadTooLarge,
    SourceNotConfigured,
    UnsupportedMediaType,
)
from ordertrack.providers.base import WebhookRequest
from ordertrack.store.inbox import NewInboxRow
from ordertrack.store.models import Inbox
from workers import metrics

bp = Blueprint("webhooks", __name__)
log = logging.getLogger(__name__)

#: Header names we never store: credentials and signatures are not ours to keep.
_SECRET_HINTS = ("signature", "hmac", "authorization", "cookie", "token", "credential", "key")

#: The inbox column's width: a longer delivery id cannot be stored (PostgreSQL refuses it).
_MAX_DEDUPE_KEY = Inbox.__table__.c.dedupe_key.type.length


@bp.before_request
def start_clock() -> None:
    g.webhook_started = time.perf_counter()


@bp.after_request
def count_answer(response: Response) -> Response:
    """Every answer, errors included (the app's error handlers run before this hook). A
    path segment that names no source is counted as one label, so the set stays bounded."""
    source = (request.view_args or {}).get("source")
    if source not in current_app.extensions["ordertrack"].credentials:
        source = metrics.OTHER_SOURCE
    metrics.webhook_answered(source, response.status_code, time.perf_counter() - g.webhook_started)
    return response


@bp.post("/webhooks/<source>")
def receive(source: str):
    edge = current_app.extensions["ordertrack"]
    provider = providers.get(source)
    credentials = edge.credentials[source]
    if not credentials.configured:
        raise SourceNotConfigured(
            f"source {source!r} is not enabled: set WEBHOOK_SECRET_{source.upper()}"
        )
    body = _read_body(edge.settings.max_body_bytes)
    delivery = WebhookRequest(body=body, headers=request.headers, query=request.args)
    if providers.is_handshake(provider, delivery):
        return acknowledge(200, status="handshake")
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(f"expected application/json, got {request.mimetype or 'none'!r}")
    provider.verify(delivery, credentials)
    payload = strictjson.loads(body)
    envelope = provider.envelope(delivery, payload)
    if not 0 < len(envelope.dedupe_key) <= _MAX_DEDUPE_KEY:
        raise MissingFields(f"{source} delivery id must be 1 to {_MAX_DEDUPE_KEY} characters long")
    inbox_id = edge.inbox_writer.write(
        NewInboxRow(
            source=source,
            dedupe_key=envelope.dedupe_key,
            topic=envelope.topic,
            headers=_headers_worth_keeping(request.headers, credentials.header),
            body=body,
            handled=envelope.handled,
        )
    )
    if inbox_id is None:
        _note_duplicate(edge, source, envelope.dedupe_key, body)
        return acknowledge(200, status="duplicate", topic=envelope.topic)
    if not envelope.handled:
        return acknowledge(200, status="ignored", topic=envelope.topic, id=inbox_id)
    return acknowledge(202, status="accepted", topic=envelope.topic, id=inbox_id)


def _note_duplicate(edge, source: str, dedupe_key: str, body: bytes) -> None:
    """A sender's retry is routine (info); the same delivery id with another body is not: the
    sender is broken or someone replays its id, and the first body stays what counts. Only
    for the log: the answer is 200 either way, so a failure here changes nothing."""
    try:
        with edge.sessions() as session:
            kept = session.scalar(
                select(Inbox.body).where(Inbox.source == source, Inbox.dedupe_key == dedupe_key)
            )
    except SQLAlchemyError as exc:
        log.info("%s delivery %s is a duplicate (%s)", source, dedupe_key[:80], type(exc).__name__)
        return
    if kept is not None and bytes(kept) != body:
        log.warning(
            "%s delivery %s came again with a different body: the first is kept, this one"
            " ignored (answered 200)",
            source,
            dedupe_key[:80],
        )
    else:
        log.info(
            "%s delivery %s is a duplicate: answered 200, nothing done", source, dedupe_key[:80]
        )


def acknowledge(code: int, **body) -> Response:
    """The acknowledgement: plain json.dumps, as jsonify's provider machinery costs more
    than the rest of a small response on the hot path."""
    return Response(json.dumps(body), status=code, mimetype="application/json")


def _read_body(limit: int) -> bytes:
    """The whole body: 413 when over the limit, 400 when it stops short. Werkzeug refuses a
    Content-Length over its limit but silently truncates a chunked body at it, so read one byte
    past the limit to tell "at" from "over"."""
    too_large = PayloadTooLarge(f"body is larger than the {limit}-byte limit (MAX_BODY_BYTES)")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    request.max_content_length = limit + 1
    cut_short = ClientDisconnected("the body stopped short: the client hung up, or was too slow")
    try:
        body = request.get_data(cache=False)
    except (OSError, ClientDisconnected):  # a chunked body ended before its last chunk
        raise cut_short from None
    if len(body) > limit:
        raise too_large
    if request.content_length is not None and len(body) < request.content_length:
        raise cut_short
    return body


def _headers_worth_keeping(headers, secret_header: str | None) -> dict[str, str]:
    """Every header but credentials: those named like one, and the one the user chose to
    carry a shared value (WEBHOOK_HEADER_<SOURCE>), whatever its name."""
    secret = (secret_header or "").lower()
    return {
        name: value[:512]
        for name, value in headers.items()
        if _worth_keeping(name) and name.lower() != secret
    }


@lru_cache(maxsize=1024)
def _worth_keeping(name: str) -> bool:
    """Decided once per header name: the same few names arrive on every request."""
    lowered = name.lower()
    return not any(hint in lowered for hint in _SECRET_HINTS)
