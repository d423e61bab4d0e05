"""The typed contract every provider declares once, as `PROVIDER = Provider(...)`: what the
receiver, the worker and the docs read, so none of them looks a name up on a module."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from marshmallow import Schema

from ordertrack.facts import Fact
from ordertrack.providers.base import Credentials, Envelope, WebhookRequest

if TYPE_CHECKING:
    from ordertrack.settings import Settings

Verify = Callable[[WebhookRequest, Credentials], None]
ReadEnvelope = Callable[[WebhookRequest, Any], Envelope]
Normalize = Callable[[str, Any, datetime], list[Fact]]
Handshake = Callable[[WebhookRequest], bool]
Fetch = Callable[[str, Any, "Settings"], Any]


@dataclass(frozen=True)
class Docs:
    """What docs/providers.md shows of a source, generated so it cannot drift from the code."""

    #: The module's docstring: what the source is and where its format is documented.
    about: str | None
    #: How to point the source at ordertrack.
    setup: str
    #: What `verify` checks, in a sentence.
    verified: str
    #: Topic -> the schema its payload must fit.
    handled_topics: Mapping[str, Schema]
    #: Topics the source really sends that ordertrack does not use (answered 200).
    ignored_topics: frozenset[str]
    #: Title -> raw code -> canonical status (or None: no change).
    tables: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Provider:
    """One source's code: what the receiver and the worker call, and what the docs show."""

    #: The URL slug (`POST /webhooks/<name>`), the folder and the registry key.
    name: str
    kind: Literal["platform", "carrier"]
    #: Raises BadSignature unless the request is the source's own (over the raw bytes).
    verify: Verify
    #: The topic, dedupe key and whether ordertrack uses the topic, read before commit.
    envelope: ReadEnvelope
    #: Pure: a stored payload (or what `fetch` returned) to facts.
    normalize: Normalize
    docs: Docs
    # The optional hooks are keyword-only: always named where a provider gives them.
    #: An unsigned set-up request the sender needs a 200 for (WooCommerce's ping).
    handshake: Handshake | None = field(default=None, kw_only=True)
    #: Asks the source's API for what a thin webhook names (BigCommerce), in the worker.
    fetch: Fetch | None = field(default=None, kw_only=True)
