"""Strict JSON for untrusted bodies: every refusal raises `MalformedPayload` with a message
that says what is wrong; everything a provider really sends parses exactly as `json` would."""

import json
import tracemalloc

import pytest

from ordertrack import strictjson
from ordertrack.errors import MalformedPayload
from ordertrack.strictjson import MAX_DEPTH, MAX_INT_DIGITS
from tests.support.webhooks import FIXTURES


def _nested_arrays(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def _nested_objects(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


REFUSED = [
    ("invalid UTF-8", b'{"name": "\xff"}', r"not valid UTF-8 \(byte 10\)"),
    ("overlong UTF-8 encoding", b'{"name": "\xc0\xaf"}', "not valid UTF-8"),
    ("UTF-16", '{"a": 1}'.encode("utf-16"), "not valid UTF-8"),
    ("truncated", b'{"id": 1, "name": ', "not valid JSON"),
    ("trailing data", b'{"id": 1} {"id": 2}', "not valid JSON: Extra data"),
    ("empty", b"", "not valid JSON"),
    ("whitespace only", b" \n ", "not valid JSON"),
    ("single quotes", b"{'id': 1}", "not valid JSON"),
    ("trailing comma", b'{"id": 1,}', "not valid JSON"),
    ("one level too deep, arrays", _nested_arrays(MAX_DEPTH + 1), "deeper than 64 levels"),
    ("one level too deep, objects", _nested_objects(MAX_DEPTH + 1), "deeper than 64 levels"),
    ("1000 levels", _nested_arrays(1000), "deeper than"),
    ("100000 levels", _nested_arrays(100_000), "deeper than"),
    ("100000 levels, unclosed", b"[" * 100_000, "deeper than"),
    # Were the closing brackets inside the strings counted, these would stay under the limit.
    ("deep after a string of brackets", b'["]]]]",' + _nested_arrays(66) + b"]", "deeper than"),
    ("deep after an escaped quote", b'["\\"]]]]",' + _nested_arrays(66) + b"]", "deeper than"),
    # Strings of brackets, far past the first 64 KiB the depth check takes at a time.
    ("deep after 100000 strings", b'["[", ' * 100_000 + b"[" * 66, "deeper than"),
    (
        "deep after a long string",
        b'["' + b"]" * 70_000 + b'", ' + _nested_arrays(66) + b"]",
        "deeper",
    ),
    ("NaN", b'{"price": NaN}', "NaN is not allowed"),
    ("Infinity", b'{"price": Infinity}', "Infinity is not allowed"),
    ("-Infinity", b'{"price": -Infinity}', "-Infinity is not allowed"),
    ("1e999", b'{"price": 1e999}', "too large"),
    ("-1e999", b'{"price": -1e999}', "too large"),
    ("5000-digit float", b'{"price": ' + b"9" * 5000 + b".5}", "too large"),
    ("5000-digit integer", b'{"id": ' + b"7" * 5000 + b"}", "more than 64 digits"),
    ("5000-digit negative integer", b'{"id": -' + b"7" * 5000 + b"}", "more than 64 digits"),
    ("integer one digit too long", b"[" + b"1" * (MAX_INT_DIGITS + 1) + b"]", "digits"),
    ("duplicate keys", b'{"id": 1, "id": 2}', "duplicate keys"),
    ("duplicate keys, same value", b'{"id": 1, "id": 1}', "duplicate keys"),
    ("duplicate keys nested in an array", b'[{"a": {"k": 1, "k": 2}}]', "duplicate keys"),
    ("duplicate keys spelled with an escape", b'{"id": 1, "\\u0069d": 2}', "duplicate keys"),
    ("lone high surrogate", b'{"name": "\\ud800"}', "lone surrogate"),
    ("lone low surrogate", b'{"name": "x\\uDFFF"}', "lone surrogate"),
    ("surrogates in the wrong order", b'["\\ude00\\ud83d"]', "lone surrogate"),
    ("lone surrogate in a key", b'{"\\ud800": 1}', "lone surrogate"),
]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(("body", "says"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_each_refusal_raises_malformed_payload_saying_why(body, says):
    with pytest.raises(MalformedPayload, match=says) as refused:
        strictjson.loads(body)
    assert refused.value.status_code == 400
    assert len(refused.value.message) < 300, "the message is for a sender to read"


ACCEPTED = [
    ("exactly 64 levels", _nested_arrays(MAX_DEPTH)),
    ("brackets inside strings do not nest", b'{"note": "' + b"[{" * 5000 + b'"}'),
    ("brackets in 100000 strings do not nest", b"[" + b'"[[", ' * 100_000 + b"1]"),
    ("a string of brackets across 64 KiB", b'[["' + b"[" * 70_000 + b'", "' + b"]" * 9 + b'"]]'),
    ("escaped quotes and backslashes", b'{"a": "\\"[[", "b": "\\\\", "c": ["]]]\\\\"]}'),
    ("a surrogate pair is one character", b'{"emoji": "\\ud83d\\ude00"}'),
    ("an escaped backslash before ud800 is text", b'{"path": "C:\\\\ud800"}'),
    ("non-ASCII as UTF-8", '{"name": "Zoë Ünal", "city": "東京"}'.encode()),
    ("64-digit integer", b"[" + b"9" * MAX_INT_DIGITS + b", -" + b"9" * MAX_INT_DIGITS + b"]"),
    ("large but finite float", b"[1.7976931348623157e308, -1e308, 5e-324]"),
    ("same key in sibling objects", b'[{"id": 1}, {"id": 2}]'),
    ("scalars at the top", b'"just a string"'),
    ("null at the top", b"null"),
    ("whitespace around", b' \n\t{"id": 1}\r\n '),
]


@pytest.mark.parametrize("body", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_valid_json_parses_as_the_standard_library_does(body):
    assert strictjson.loads(body) == json.loads(body)


def test_a_valid_nested_payload_is_accepted_whole():
    body = json.dumps(
        {
            "id": 5531234567890,
            "total": "65.70",
            "weight": 614.4,
            "paid": True,
            "cancelled_at": None,
            "customer": {"email": "ada@example.com", "tags": ["vip", "newsletter"]},
            "line_items": [{"id": 13001234567890, "qty": 1, "props": [{"k": "v"}]}],
            "deep": json.loads(_nested_objects(MAX_DEPTH - 1)),
        }
    ).encode()
    assert strictjson.loads(body) == json.loads(body)


@pytest.mark.parametrize(
    "path", sorted(FIXTURES.glob("*/*.json")), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_every_provider_fixture_parses_unchanged(path):
    body = path.read_bytes()
    assert strictjson.loads(body) == json.loads(body)


@pytest.mark.timeout(10)
def test_a_one_mebibyte_valid_body_parses():
    item = {"id": 13001234567890, "title": 'Poster "[large]" {framed}', "price": 24.0, "tags": []}
    document = {"items": [dict(item, n=n) for n in range(10_200)], "note": "\\ud800 is text"}
    body = json.dumps(document, ensure_ascii=False).encode()
    assert 1000 * 1000 < len(body) <= 1024 * 1024
    body = body[:-1] + b" " * (1024 * 1024 - len(body)) + b"}"
    assert strictjson.loads(body) == document


def test_the_depth_check_holds_no_more_than_about_the_body_in_memory():
    """A body of many short strings once cost thirty times its size (a list of the pieces
    between its quotes), per request: the web worker's memory is what INP-4 watches."""
    body = b"[" + b'"[", ' * 200_000 + b'""]'
    tracemalloc.start()
    try:
        strictjson._check_depth(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * len(body), f"{peak / len(body):.1f} times the body"
