"""Strict JSON for untrusted bodies.

The standard library accepts NaN, silently keeps the last of duplicate keys, overflows the
C stack on deep nesting (Flask answers 500 for a 2 KB bomb) and decodes "\\ud800" to a lone
surrogate that no database can store. Providers send none of those, so each is refused here
with `MalformedPayload` before anything else sees the body.
"""

import json
import math
import re
from collections.abc import Iterator
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
#: Bytes of the skeleton cut from strings at a time: splitting a whole body of short strings
#: at its quotes cost thirty times the body in memory.
_CHUNK = 1 << 16


def _check_depth(body: bytes) -> None:
    """Refuse deep nesting before the recursive parser sees it. Escapes go first, then every
    byte but quotes and brackets, all at C speed: a string without brackets is now `""`, and
    dropping every `""` (a string's quotes, or where one string ends and the next begins)
    leaves each bracket inside or outside strings as it was. What is left of a real payload
    is the bracket skeleton, whose running sum is the depth."""
    if b"\\" in body:  # most bodies have no escapes: skip two copies of the whole body
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = body.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    depth = 0
    for brackets in _outside_strings(skeleton) if b'"' in skeleton else [skeleton]:
        deepest = max(accumulate(map(_DELTA.__getitem__, brackets), initial=depth))
        if deepest > MAX_DEPTH:
            raise MalformedPayload(f"JSON nests deeper than {MAX_DEPTH} levels")
        depth += sum(brackets.count(b) for b in b"[{") - sum(brackets.count(b) for b in b"]}")


def _outside_strings(skeleton: bytes) -> Iterator[bytes]:
    """The brackets outside strings, a chunk at a time: each chunk begins outside a string, so
    the pieces between its quotes alternate outside and inside (a string left open runs to
    the end)."""
    start = 0
    while start < len(skeleton):
        end = start + _CHUNK
        if skeleton.count(b'"', start, end) % 2:  # it would end inside a string: take it all
            close = skeleton.find(b'"', end)
            end = len(skeleton) if close < 0 else close + 1
        yield b"".join(skeleton[start:end].split(b'"')[::2])
        start = end


def _finite_float(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        raise MalformedPayload(f"number {literal[:20]}... is too large")
    return value


def _bounded_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise MalformedPayload(f"integer {literal[:20]}... has more than {MAX_INT_DIGITS} digits")
    return int(literal)


_DIGITS_AS_ZERO = bytes.maketrans(b"123456789E", b"000000000e")
_SUSPECT_NUMBERS = (b"0" * (MAX_INT_DIGITS + 1), b"e000", b"e+000", b"e-000")


def _may_hold_huge_numbers(body: bytes) -> bool:
    """True if some digit run is longer than MAX_INT_DIGITS or some exponent has three
    digits; translate and substring search keep this at C speed."""
    shape = body.translate(_DIGITS_AS_ZERO)
    return any(suspect in shape for suspect in _SUSPECT_NUMBERS)


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
    # Checking every number costs a Python call each; only a body with a long digit run or
    # a three-digit exponent can hold one too long or too large, so only such bodies pay.
    numbers = {"parse_float": _finite_float, "parse_int": _bounded_int}
    if not _may_hold_huge_numbers(body):
        numbers = {}
    try:
        value = json.loads(
            text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys, **numbers
        )
    except MalformedPayload:
        raise
    except (ValueError, RecursionError) as exc:
        raise MalformedPayload(f"body is not valid JSON: {exc}") from None
    _check_unicode(text, value)
    if "\\u0000" in text and _holds_nul(value):
        # NUL is valid JSON, but PostgreSQL text cannot hold it; no provider sends one.
        raise MalformedPayload("JSON string contains a NUL character (\\u0000)")
    return value


def _holds_nul(value: Any) -> bool:
    """The slow, exact check, for the rare body whose text mentions \\u0000 at all."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(map(_holds_nul, value))
    return False
