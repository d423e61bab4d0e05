"""One module (or package) per source, each declaring its `PROVIDER` spec (`spec.Provider`):
verify(), envelope() and normalize(), its topics, tables and texts, and two optional hooks:
handshake() for a sender's unsigned set-up request, and fetch() for a source whose webhooks
only name what changed (the worker fetches it before normalizing). The registry collects the
specs: adding a source is adding a module (docs/adding-a-provider.md)."""

import importlib
import pkgutil
from functools import cache
from typing import Any

from ordertrack.errors import UnknownSource
from ordertrack.providers.base import WebhookRequest
from ordertrack.providers.spec import Provider

_NOT_PROVIDERS = {"base", "spec"}


@cache
def registry() -> dict[str, Provider]:
    specs = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_PROVIDERS or info.name.startswith("_"):
            continue
        spec = importlib.import_module(f"{__name__}.{info.name}").PROVIDER
        specs[spec.name] = spec
    return specs


def get(source: str) -> Provider:
    try:
        return registry()[source]
    except KeyError:
        raise UnknownSource(f"no webhook source named {source!r}") from None


def is_handshake(provider: Provider, delivery: WebhookRequest) -> bool:
    """A set-up request the sender needs a 200 for, with nothing to store (WooCommerce's ping)."""
    return provider.handshake is not None and provider.handshake(delivery)


def fetches(provider: Provider) -> bool:
    """Whether the worker asks this source's API for what its webhooks name."""
    return provider.fetch is not None


def fetched(provider: Provider, topic: str, payload: Any, settings) -> Any:
    """What normalize() reads: the payload itself, or what the source's API says it names."""
    if provider.fetch is None:
        return payload
    return provider.fetch(topic, payload, settings)
