"""Fixtures as providers send them, signed the way each provider signs. Each source's request
is built in `tests/support/sources/<source>.py` and signed by the simulator's signer
(`simulate/sources/<source>.py`, written from the provider's documentation,
independently of ordertrack's verifiers); this module finds them and tells the shared story."""

import importlib
import pkgutil
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from types import ModuleType
from urllib.parse import urlencode

FIXTURES = Path(__file__).parent.parent / "fixtures"


@dataclass(frozen=True)
class Request:
    source: str
    name: str
    body: bytes
    headers: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        suffix = f"?{urlencode(self.query)}" if self.query else ""
        return f"/webhooks/{self.source}{suffix}"


def fixture_body(source: str, name: str) -> bytes:
    return (FIXTURES / source / f"{name}.json").read_bytes().rstrip(b"\n")


def fixture_names(source: str) -> list[str]:
    skip = {"topics", "signature_vector", "event-body"}
    return sorted(p.stem for p in (FIXTURES / source).glob("*.json") if p.stem not in skip)


@cache
def source_modules() -> dict[str, ModuleType]:
    """Every `tests/support/sources/<name>.py`, by source name."""
    from tests.support import sources

    return {
        info.name: importlib.import_module(f"{sources.__name__}.{info.name}")
        for info in pkgutil.iter_modules(sources.__path__)
    }


def source_env() -> dict[str, str]:
    """The settings that enable every source under test: its secret, token and extras."""
    env = {}
    for name, module in source_modules().items():
        env[f"WEBHOOK_SECRET_{name.upper()}"] = module.SECRET
        if getattr(module, "TOKEN", None):
            env[f"WEBHOOK_TOKEN_{name.upper()}"] = module.TOKEN
        env |= getattr(module, "ENV", {})
    return env


def request_for(source: str, name: str, body: bytes | None = None, **options) -> Request:
    return source_modules()[source].request(name, body, **options)


def shopify(name: str, body: bytes | None = None, **options) -> Request:
    return request_for("shopify", name, body, **options)


def easypost(name: str, body: bytes | None = None) -> Request:
    return request_for("easypost", name, body)


def shopify_signature(body: bytes, secret: str) -> str:
    return source_modules()["shopify"].signature(body, secret)


def easypost_signature(body: bytes, secret: str) -> str:
    return source_modules()["easypost"].signature(body, secret)


#: Each source's test secret, by source name.
SECRETS = {name: module.SECRET for name, module in source_modules().items()}

#: The whole story of order #1042: two parcels, both delivered.
STORY = [
    shopify("orders_create"),
    shopify("orders_paid"),
    shopify("fulfillments_create"),
    shopify("fulfillments_create__second_parcel"),
    easypost("tracker_created"),
    easypost("tracker_updated__in_transit"),
    easypost("tracker_updated__parcel2_in_transit"),
    easypost("tracker_updated__out_for_delivery"),
    easypost("tracker_updated__delivered"),
    easypost("tracker_updated__parcel2_out_for_delivery"),
    easypost("tracker_updated__parcel2_delivered"),
]
ORDER_ID = "5531234567890"

#: A date opening a JSON string or a header: `"2026-11-04T15:12:00Z"`, `"2026-11-04"`.
_BODY_DATE = re.compile(rb'(?<=")(\d{4}-\d{2}-\d{2})(?=[T"])')
_HEADER_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?=T)")


def days_to_recent(story: list[Request], ended_days_ago: int) -> int:
    """How many days to move `story` so that its last date falls `ended_days_ago` days
    before today (UTC): the fixtures' own dates grow old as the years pass."""
    last = max(
        date.fromisoformat(found.decode())
        for request in story
        for found in _BODY_DATE.findall(request.body)
    )
    return (datetime.now(UTC).date() - timedelta(days=ended_days_ago) - last).days


def moved(story: list[Request], days: int) -> list[Request]:
    """The same webhooks `days` later: every date in their bodies and headers moved by whole
    days (times of day and offsets kept) and each body signed again, with the source's
    defaults (a fixture's own webhook id, for Shopify)."""
    return [_moved(request, days) for request in story]


def _moved(request: Request, days: int) -> Request:
    def later(day: str) -> str:
        return (date.fromisoformat(day) + timedelta(days=days)).isoformat()

    body = _BODY_DATE.sub(lambda found: later(found.group(1).decode()).encode(), request.body)
    signed = request_for(request.source, request.name, body)
    headers = {
        key: _HEADER_DATE.sub(lambda found: later(found.group(1)), value)
        for key, value in signed.headers.items()
    }
    return replace(signed, headers=headers)
