"""Which language a customer reads, and the words and dates in it.

The words are data, one catalog per language in `templates/<language>.toml`, so a translation
is a file a translator can edit without touching code. Dates are formatted here rather than
with Babel: two languages need two month tables, not a CLDR dependency.
"""

import re
import string
import tomllib
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

#: Languages with a catalog. A new one is a `templates/<language>.toml` plus its code here.
SUPPORTED = ("en", "es")
DEFAULT = "en"


def choose_locale(order_locale: str | None) -> str:
    """The supported language for a platform's locale tag ("es", "es-MX", "es_ES", "ES"),
    English for anything else or nothing (WooCommerce reports none)."""
    language = re.split(r"[-_.@]", (order_locale or "").strip(), maxsplit=1)[0].lower()
    return language if language in SUPPORTED else DEFAULT


class Catalog:
    """One language's strings: `text("kinds.shipped.subject", order="#1042")`."""

    def __init__(self, locale: str, data: dict[str, Any]):
        self.locale = locale
        self._data = data

    def text(self, key: str, **values: object) -> str:
        return self.raw(key).format(**values)

    def plural(self, key: str, count: int, **values: object) -> str:
        """English and Spanish have two forms: `<key>_one` for 1, `<key>_other` otherwise."""
        form = "one" if count == 1 else "other"
        return self.text(f"{key}_{form}", count=count, **values)

    def raw(self, key: str) -> str:
        found: Any = self._data
        for part in key.split("."):
            found = found[part]
        if not isinstance(found, str):
            raise KeyError(key)
        return found

    def date(self, day: date) -> str:
        """A delivery estimate as people write it: 'Wednesday, 4 November'. No year: an
        estimate is days away."""
        names = self._data["date"]
        return names["format"].format(
            weekday=names["weekdays"][day.weekday()],
            day=day.day,
            month=names["months"][day.month - 1],
        )

    def strings(self) -> dict[str, str]:
        """Every string by its dotted key (date names aside): what the tests compare across
        languages."""
        return dict(_flatten(self._data))


def _flatten(data: dict[str, Any], prefix: str = ""):
    for key, value in data.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        elif isinstance(value, str):
            yield f"{prefix}{key}", value


def placeholders(text: str) -> set[str]:
    """The {names} a catalog string expects."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@cache
def catalog(locale: str) -> Catalog:
    """The catalog of a supported language (read once, on first use)."""
    if locale not in SUPPORTED:
        raise KeyError(f"no catalog for locale {locale!r}")
    source = resources.files("ordertrack.notifications") / "templates" / f"{locale}.toml"
    return Catalog(locale, tomllib.loads(source.read_text(encoding="utf-8")))
