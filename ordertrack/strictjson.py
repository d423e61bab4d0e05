"""Strict JSON for untrusted bodies.

The standard library accepts NaN, silently keeps the last of duplicate keys, overflows the
C stack on deep nesting (Flask answers 500 for a 2 KB bomb) and decodes "\\ud800" to a lone
surrogate that no database can store. Providers send none of those, so each is refused here
with `MalformedPayload` before anything else sees the body.
"""

import json
import math
import re
from itertools import accumulate
from typing import Any

from ordertrack.errors import MalformedPayload

#: Deeper than any provider payload we know (Shopify orders nest about 6 levels).
MAX_DEPTH = 64
#: Provider integers are ids and counts (at most 20 digits); the interpreter's own limit
#: (4300 digits) can be switched off, and its message is not one to show a sender.
MAX_INT_DIGITS = 64


def _reject_constant(name: str) -> Any:
    raise MalformedPayload(f"JSON constant {name} is not allowed")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise MalformedPayload("JSON object has duplicate keys")
    return obj


_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_DELTA = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def _check_depth(body: bytes) -> None:
    """Refuse deep nesting before the recursive parser sees it. Escapes go first, then every
    byte but quotes and brackets, then whole strings, all at C speed: what is left is the
    bracket skeleton, whose running sum is the depth."""
    skeleton = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    brackets = b"".join(skeleton.split(b'"')[::2])  # even pieces lie outside strings
    if brackets and max(accumulate(map(_DELTA.__getitem__, brackets))) > MAX_DEPTH:
        raise MalformedPayload(f"JSON nests deeper than {MAX_DEPTH} levels")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        raise MalformedPayload(f"number {literal[:20]}... is too large")
    return value


def _bounded_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise MalformedPayload(f"integer {literal[:20]}... has more than {MAX_INT_DIGITS} digits")
    return int(literal)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _check_unicode(text: str, value: Any) -> None:
    """A \\uD800-\\uDFFF escape is fine only as half of a pair; a lone one cannot be encoded."""
    if not _SURROGATE_ESCAPE.search(text):
        return
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedPayload(
            "JSON string has a lone surrogate escape (not valid Unicode)"
        ) from None


def loads(body: bytes) -> Any:
    """Parse a webhook body or raise `MalformedPayload` saying what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPayload(f"body is not valid UTF-8 (byte {exc.start})") from None
    _check_depth(body)
    try:
        value = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
            object_pairs_hook=_unique_keys,
        )
    except MalformedPayload:
        raise
    except (ValueError, RecursionError) as exc:
        raise MalformedPayload(f"body is not valid JSON: {exc}") from None
    _check_unicode(text, value)
    return value
