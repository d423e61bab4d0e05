"""Shippo: track_updated webhooks from the shipping aggregator.

Reference: docs.goshippo.com (tracking, webhooks, webhook security; the Track object as in
goshippo's SDKs). The body is `{"event", "test", "data": Track}`. Shippo authenticates by a
token of our choosing in the URL (`?token=`) and, where Shippo has enabled it for the account,
by `Shippo-Auth-Signature: t=<unix>,v1=<hex>` over `"<t>.<raw body>"`, Stripe's scheme, with
the timestamp checked against a tolerance so a captured request cannot be replayed.
"""

import hashlib
from typing import Any

from ordertrack.errors import BadSignature
from ordertrack.facts import normalize_tracking_number
from ordertrack.providers.base import Credentials, Envelope, WebhookRequest, classify_topic, load
from ordertrack.providers.shippo import tables
from ordertrack.providers.shippo.normalizers import normalize
from ordertrack.providers.shippo.schemas import EDGE_SCHEMAS, EVENT_HEADER, HANDLED_TOPICS
from ordertrack.providers.spec import Docs, Provider
from ordertrack.signatures import verify_any, verify_timestamped

SIGNATURE_HEADER = "Shippo-Auth-Signature"
TOKEN_PARAMETER = "token"  # noqa: S105 (the query parameter's name, not a secret)


def verify(delivery: WebhookRequest, credentials: Credentials) -> None:
    """Whatever is configured must pass: the URL token, the signature, or both."""
    if not credentials.configured:
        raise BadSignature("neither WEBHOOK_TOKEN_SHIPPO nor WEBHOOK_SECRET_SHIPPO is set")
    if credentials.tokens:
        _verify_token(delivery.query.get(TOKEN_PARAMETER), credentials.tokens)
    if credentials.secrets:
        verify_timestamped(
            delivery.headers.get(SIGNATURE_HEADER),
            delivery.body,
            credentials.secrets,
            credentials.tolerance,
            credentials.now(),
        )


def _verify_token(presented: str | None, tokens: tuple[str, ...]) -> None:
    if not presented:
        raise BadSignature(f"the ?{TOKEN_PARAMETER}= query parameter is missing")
    try:
        verify_any(presented, tokens)
    except BadSignature:
        raise BadSignature(f"the ?{TOKEN_PARAMETER}= query parameter does not match") from None


def envelope(delivery: WebhookRequest, payload: Any) -> Envelope:
    topic = load(EVENT_HEADER, payload, "event")["event"]
    handled = classify_topic(topic, HANDLED_TOPICS, tables.IGNORED_TOPICS, tables.NAME)
    if not handled:
        return Envelope(topic=topic, dedupe_key=_body_key(topic, delivery.body), handled=False)
    load(EDGE_SCHEMAS[topic], payload, topic)
    return Envelope(
        topic=topic, dedupe_key=_track_key(payload["data"], delivery.body), handled=True
    )


def _body_key(prefix: str, body: bytes) -> str:
    return f"{prefix[:100]}:sha256:{hashlib.sha256(body).hexdigest()}"


def _track_key(track: dict[str, Any], body: bytes) -> str:
    """Shippo sends no event id and warns its track webhooks are not idempotent: a number
    registered twice is notified twice. The status record's own id names the scan whatever
    the delivery, so a repeat of it is a duplicate; without one, identical bodies are."""
    number = normalize_tracking_number(track["tracking_number"])
    status_id = track["tracking_status"].get("object_id")
    if isinstance(status_id, str) and status_id.strip():
        return f"{number[:100]}:{status_id.strip()[:150]}"
    return _body_key(number, body)


#: The provider contract (docs/adding-a-provider.md).
DOCS = Docs(
    __doc__, tables.SETUP, tables.VERIFIED, HANDLED_TOPICS, tables.IGNORED_TOPICS, tables.TABLES
)
PROVIDER = Provider(tables.NAME, tables.KIND, verify, envelope, normalize, DOCS)
