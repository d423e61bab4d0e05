"""One module per source. The registry finds them: adding a source is adding a module that
defines NAME, KIND, verify(), envelope() and normalize() (see docs/adding-a-provider.md).
Two hooks are optional: handshake() for a sender's unsigned set-up request, and fetch() for a
source whose webhooks only name what changed (the worker fetches it before normalizing)."""

import importlib
import pkgutil
from functools import cache
from types import ModuleType

from ordertrack.errors import UnknownSource

_NOT_PROVIDERS = {"base"}


@cache
def registry() -> dict[str, ModuleType]:
    modules = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_PROVIDERS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        modules[module.NAME] = module
    return modules


def get(source: str) -> ModuleType:
    try:
        return registry()[source]
    except KeyError:
        raise UnknownSource(f"no webhook source named {source!r}") from None


def is_handshake(provider: ModuleType, delivery) -> bool:
    """A set-up request the sender needs a 200 for, with nothing to store (WooCommerce's ping)."""
    handshake = getattr(provider, "handshake", None)
    return bool(handshake and handshake(delivery))


def fetches(provider: ModuleType) -> bool:
    """Whether the worker asks this source's API for what its webhooks name."""
    return getattr(provider, "fetch", None) is not None


def fetched(provider: ModuleType, topic: str, payload, settings):
    """What normalize() reads: the payload itself, or what the source's API says it names."""
    fetch = getattr(provider, "fetch", None)
    return fetch(topic, payload, settings) if fetch else payload
