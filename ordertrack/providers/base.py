"""What every provider module shares: the delivery it verifies, the envelope it reads, and the
schema helpers that turn untrusted JSON into typed errors instead of KeyErrors."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields

from ordertrack.errors import MissingFields, UnknownTopic
from ordertrack.statuses import ShipmentStatus


@dataclass(frozen=True)
class WebhookRequest:
    """One HTTP delivery as received: raw bytes, headers (case-insensitive) and query."""

    body: bytes
    headers: Mapping[str, str]
    query: Mapping[str, str]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Credentials:
    """How one source proves a delivery is its own, as configured by the environment. Every
    list holds all values currently valid, so a secret rotates without downtime."""

    #: WEBHOOK_SECRET_<SOURCE>: HMAC keys, or the static value a source echoes in a header.
    secrets: tuple[str, ...] = field(default=(), repr=False)
    #: WEBHOOK_TOKEN_<SOURCE>: a token the source sends back in the URL (Shippo's ?token=).
    tokens: tuple[str, ...] = field(default=(), repr=False)
    #: WEBHOOK_HEADER_<SOURCE>: which header carries a static value, where the user chose it.
    header: str | None = None
    #: A signed timestamp further than this from now is refused as a replay.
    tolerance: timedelta = timedelta(minutes=5)
    now: Callable[[], datetime] = _utc_now

    @property
    def configured(self) -> bool:
        return bool(self.secrets or self.tokens)


@dataclass(frozen=True)
class Envelope:
    """What the receiver needs before it commits: the topic, the sender's delivery id, and
    whether ordertrack uses the topic at all (a real but unused topic is stored as ignored)."""

    topic: str
    dedupe_key: str
    handled: bool


class Lenient(Schema):
    """Providers add fields without notice: declare what we read, let the rest through."""

    class Meta:
        unknown = EXCLUDE


class FlexibleDateTime(fields.DateTime):
    """ISO 8601 with offset as most providers send, or unix seconds; always aware UTC."""

    def _deserialize(self, value: Any, attr, data, **kwargs) -> datetime:
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                return datetime.fromtimestamp(value, UTC)
            except (OverflowError, OSError, ValueError):
                raise ValidationError("timestamp out of range") from None
        parsed = super()._deserialize(value, attr, data, **kwargs)
        try:
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00:00+01:00 has no UTC form
            raise ValidationError("date out of range") from None


class LocalDate(fields.DateTime):
    """The calendar day as the sender wrote it. A delivery estimate of 21:00 on the 4th in
    New York is the 4th; converting to UTC first would make it the 5th."""

    def _deserialize(self, value: Any, attr, data, **kwargs) -> date:
        return super()._deserialize(value, attr, data, **kwargs).date()


def edge_schema(schema: Schema) -> Schema:
    """Only the fields a topic must carry, nested ones included. The receiver checks these
    before it commits (a miss is a 422 the sender sees); the worker validates the rest, which
    spares every request a full walk of a large order."""
    required: dict[str, fields.Field] = {}
    for name, declared in schema.fields.items():
        if not declared.required:
            continue
        if isinstance(declared, fields.Nested) and isinstance(declared.schema, Schema):
            declared = fields.Nested(
                edge_schema(declared.schema), required=True, data_key=declared.data_key
            )
        required[name] = declared
    return Lenient.from_dict(required, name=f"Edge{type(schema).__name__}")()


def load(schema: Schema, payload: Any, topic: str) -> dict[str, Any]:
    """Validate a payload against its schema; a miss names the fields that are wrong."""
    if not isinstance(payload, dict):
        raise MissingFields(f"{topic} payload must be a JSON object")
    try:
        return schema.load(payload)
    except ValidationError as exc:
        raise MissingFields(
            f"{topic} payload is missing or has invalid fields", exc.messages
        ) from None


def classify_topic(topic: str | None, handled: Mapping, ignored: frozenset[str], source: str):
    """Handled topics are processed; real but unused ones answer 200 so the sender does not
    retry or disable the hook; anything else is not from this sender."""
    if not topic:
        raise UnknownTopic(f"{source} delivery names no topic")
    if topic in handled:
        return True
    if topic in ignored:
        return False
    raise UnknownTopic(f"{source} never sends the topic {topic[:80]!r}")


def status_lookup(table: Mapping[ShipmentStatus, tuple[str, ...]]) -> dict[str, ShipmentStatus]:
    """Invert a 'canonical status -> raw codes' table, refusing a code listed twice."""
    lookup: dict[str, ShipmentStatus] = {}
    for status, codes in table.items():
        for code in codes:
            assert code not in lookup, f"status code {code} is mapped twice"
            lookup[code] = status
    return lookup
