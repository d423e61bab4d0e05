"""Strict JSON for untrusted bodies.

The standard library accepts NaN, silently keeps the last of duplicate keys and overflows the
C stack on deep nesting (Flask answers 500 for a 2 KB bomb). Providers send none of those, so
each is refused here with `MalformedPayload` before anything else sees the body.
"""

import json
import math
from itertools import accumulate
from typing import Any

from ordertrack.errors import MalformedPayload

#: Deeper than any provider payload we know (Shopify orders nest about 6 levels).
MAX_DEPTH = 64


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


def loads(body: bytes) -> Any:
    """Parse a webhook body or raise `MalformedPayload` saying what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPayload(f"body is not valid UTF-8 (byte {exc.start})") from None
    _check_depth(body)
    try:
        return json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique_keys,
        )
    except MalformedPayload:
        raise
    except (ValueError, RecursionError) as exc:
        raise MalformedPayload(f"body is not valid JSON: {exc}") from None
