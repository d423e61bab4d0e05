"""One helper for every provider's tests, as Zulip's `check_webhook`: a fixture, signed the way
its sender signs it (the simulator's signer, through tests/support/sources/), taken through
what the receiver and the worker do with it (verify -> envelope -> normalize), and compared
with the facts the test expects. The small helpers each provider test needs around it live
here too, once.

No app, no database: the steps are the provider's own functions, called in the order
service/webhooks.py and ordertrack/pipeline.py call them. A test module imports the words its
specifications read most by name (`check_webhook`, `edited`, `utc`, ...) and reaches the rest
as `webhook.<name>` (`from tests.support import check_webhook as webhook`)."""

import difflib
import json
import pprint
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from werkzeug.datastructures import Headers

from ordertrack import providers, strictjson
from ordertrack.facts import Fact
from ordertrack.providers.base import Credentials, Envelope, WebhookRequest
from ordertrack.store.models import Inbox
from tests.support.webhooks import Request, fixture_body, request_for, source_modules

#: Our clock in these tests. A signed timestamp (Shippo's) is checked against it, and such a
#: request is signed at it unless a test says otherwise.
NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)

#: When ordertrack received a delivery, by source: a time only a payload without one falls back
#: on (and the only time a WooCommerce deletion has). Each comes after its source's story.
RECEIVED_AT = {
    "aftership": datetime(2026, 12, 10, 12, 0, tzinfo=UTC),
    "bigcommerce": datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
    "easypost": NOW,
    "fedex": NOW,
    "shippo": NOW + timedelta(seconds=2),
    "shopify": NOW,
    "ups": NOW,
    "woocommerce": datetime(2026, 11, 9, 16, 0, 5, tzinfo=UTC),
}

#: How a source's signer is called in these tests, where it signs a time: at our clock.
_SIGNING = {"shippo": {"at": NOW}}

#: The inbox column the receiver checks every dedupe key against.
MAX_DEDUPE_KEY = Inbox.__table__.c.dedupe_key.type.length


def utc(day: int, hour: int, minute: int = 0, second: int = 0, *, month: int = 11) -> datetime:
    """A moment of the story, which takes place in November 2026."""
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def edited(
    source: str, fixture: str, edit: Callable[[Any], object] | None = None, **changes: Any
) -> bytes:
    """The fixture's JSON with `changes` to its top level, then `edit` applied, serialized
    again as the sender would send it (whoever builds the request signs it again)."""
    payload = json.loads(fixture_body(source, fixture))
    payload.update(changes)
    if edit is not None:
        edit(payload)
    return json.dumps(payload).encode()


def credentials(source: str, **changes: Any) -> Credentials:
    """How the receiver is configured for `source` in the tests: the test secret, the token
    where the source has one, our clock; `changes` for a test that configures it otherwise."""
    module = source_modules()[source]
    token = getattr(module, "TOKEN", None)
    configured = Credentials(
        secrets=(module.SECRET,), tokens=(token,) if token else (), now=lambda: NOW
    )
    return replace(configured, **changes)


def signed(source: str, fixture: str, body: bytes | None = None, **signing: Any) -> Request:
    """The fixture (or `body` in its place) as its sender sends it, built by
    tests/support/sources/<source>.py and signed by the simulator's signer; `signing` is
    passed on to it."""
    return request_for(source, fixture, body, **(_SIGNING.get(source, {}) | signing))


def with_headers(request: Request, headers: dict[str, str | None]) -> Request:
    """The same request with `headers` set (whatever the case of their names), and those
    given as None left out."""
    replaced = {name.lower() for name in headers}
    kept = {k: v for k, v in request.headers.items() if k.lower() not in replaced}
    return replace(request, headers=kept | {k: v for k, v in headers.items() if v is not None})


def as_received(request: Request) -> WebhookRequest:
    """The request as the receiver reads it: headers case-insensitive, as HTTP has them."""
    return WebhookRequest(body=request.body, headers=Headers(request.headers), query=request.query)


def accept(
    source: str, sent: Request | WebhookRequest, configured: Credentials | None = None
) -> Envelope:
    """What the receiver does before it commits: no handshake, verified, strict JSON, read
    into an envelope whose key fits the inbox. A delivery it refuses raises."""
    delivery = as_received(sent) if isinstance(sent, Request) else sent
    provider = providers.get(source)
    assert not providers.is_handshake(provider, delivery)
    provider.verify(delivery, configured or credentials(source))
    envelope = provider.envelope(delivery, strictjson.loads(delivery.body))
    assert 0 < len(envelope.dedupe_key) <= MAX_DEDUPE_KEY, envelope
    return envelope


def envelope_of(
    source: str,
    fixture: str,
    body: bytes | None = None,
    *,
    configured: Credentials | None = None,
    **signing: Any,
) -> Envelope:
    """The envelope the receiver reads from the fixture (or `body`), signed as sent."""
    return accept(source, signed(source, fixture, body, **signing), configured)


def normalized(
    source: str, topic: str, payload: Any, received_at: datetime | None = None
) -> list[Fact]:
    """What the worker makes of a stored payload; every fact's time must be aware UTC."""
    at = received_at or RECEIVED_AT[source]
    facts = providers.get(source).normalize(topic, payload, at)
    for fact in facts:
        assert fact.occurred_at.utcoffset() == timedelta(0), fact
    return facts


def receive(
    source: str, fixture: str, body: bytes | None = None, *, fetched: Any = None, **options: Any
) -> tuple[Envelope, list[Fact]]:
    """The receiver's steps, then the worker's for a handled topic. A source whose worker
    fetches what a webhook names (BigCommerce) is handed what its API answered: `fetched`."""
    envelope = envelope_of(source, fixture, body, **options)
    if not envelope.handled:
        return envelope, []
    if providers.fetches(providers.get(source)):
        assert fetched is not None, f"{source}'s worker fetches: pass what the API answered"
    stored = fixture_body(source, fixture) if body is None else body
    payload = strictjson.loads(stored) if fetched is None else fetched
    return envelope, normalized(source, envelope.topic, payload)


def facts_of(source: str, fixture: str, body: bytes | None = None, **options: Any) -> list[Fact]:
    """Only the facts `receive` comes to."""
    return receive(source, fixture, body, **options)[1]


def only_fact(source: str, fixture: str, body: bytes | None = None, **options: Any) -> Fact:
    """The one fact a delivery of a single event comes to."""
    (fact,) = facts_of(source, fixture, body, **options)
    return fact


def edited_fact(
    source: str, fixture: str, edit: Callable[[Any], object] | None = None, **changes: Any
) -> Fact:
    """The one fact of the fixture once `edited` (`changes` to its top level, then `edit`)."""
    return only_fact(source, fixture, edited(source, fixture, edit, **changes))


def check_webhook(
    source: str,
    fixture: str,
    expected: list[Fact],
    *,
    topic: str,
    handled: bool = True,
    **options: Any,
) -> Envelope:
    """The fixture through `receive`: answered as `topic`, handled (or kept as ignored), and
    normalized into exactly `expected`, with a diff where it is not. Returns the envelope, for
    a test that pins the dedupe key."""
    envelope, facts = receive(source, fixture, **options)
    assert (envelope.topic, envelope.handled) == (topic, handled), envelope
    assert facts == expected, _difference(expected, facts)
    return envelope


def _difference(expected: list[Fact], actual: list[Fact]) -> str:
    lines = difflib.unified_diff(
        pprint.pformat(expected, width=100).splitlines(),
        pprint.pformat(actual, width=100).splitlines(),
        "expected",
        "normalized",
        lineterm="",
    )
    return "the facts are not the expected ones:\n" + "\n".join(lines)
