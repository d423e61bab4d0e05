"""POST /webhooks/<source>: limit size -> check type -> verify -> parse strictly -> read the
envelope -> commit to the inbox -> 202. The provider module knows the format; this knows HTTP."""

from flask import Blueprint, current_app, jsonify, request

from ordertrack import providers, strictjson
from ordertrack.errors import SourceNotConfigured, UnsupportedMediaType
from ordertrack.providers.base import Delivery
from ordertrack.store.inbox import NewDelivery

bp = Blueprint("webhooks", __name__)

#: Header names we never store: credentials and signatures are not ours to keep.
_SECRET_HINTS = ("signature", "hmac", "authorization", "cookie", "token", "credential", "key")


@bp.post("/webhooks/<source>")
def receive(source: str):
    edge = current_app.extensions["ordertrack"]
    provider = providers.get(source)
    secrets = edge.settings.secrets_for(source)
    if not secrets:
        raise SourceNotConfigured(
            f"source {source!r} is not enabled: set WEBHOOK_SECRET_{source.upper()}"
        )
    body = request.get_data(cache=False)  # raises 413 past MAX_CONTENT_LENGTH, streamed or not
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(f"expected application/json, got {request.mimetype or 'none'!r}")
    delivery = Delivery(body=body, headers=request.headers, query=request.args)
    provider.verify(delivery, secrets)
    payload = strictjson.loads(body)
    envelope = provider.envelope(delivery, payload)
    inbox_id = edge.inbox_writer.write(
        NewDelivery(
            source=source,
            dedupe_key=envelope.dedupe_key,
            topic=envelope.topic,
            headers=_headers_worth_keeping(request.headers),
            body=body,
            handled=envelope.handled,
        )
    )
    if inbox_id is None:
        return jsonify(status="duplicate", topic=envelope.topic), 200
    if not envelope.handled:
        return jsonify(status="ignored", topic=envelope.topic, id=inbox_id), 200
    return jsonify(status="accepted", topic=envelope.topic, id=inbox_id), 202


def _headers_worth_keeping(headers) -> dict[str, str]:
    return {
        name: value[:512]
        for name, value in headers.items()
        if not any(hint in name.lower() for hint in _SECRET_HINTS)
    }
