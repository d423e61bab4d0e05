"""One module per source. The registry finds them: adding a source is adding a module that
defines NAME, KIND, verify(), envelope() and normalize() (see docs/adding-a-provider.md)."""

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
