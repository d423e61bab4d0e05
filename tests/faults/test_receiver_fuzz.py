"""The receiver fuzzed (issue 13): Hypothesis sends POST /webhooks/<source> raw bytes and raw
headers, validly signed garbage, each provider's documented payloads (tests/fixtures) with
their types, fields and nesting mutated and then signed as the provider signs, and genuine
requests with their headers mutated. Against the real app on PostgreSQL, whatever arrives:
never a 5xx; every refusal a 4xx whose JSON body says what is wrong; nothing stored for a
refusal (the inbox is counted around each request), one row at most for an acceptance.

Derandomized (a fixed seed per test) so CI sees the same examples every run; the examples per
strategy are few enough for the fault suite's budget. The API's own operations are fuzzed by
schemathesis against the OpenAPI document in tests/integration/test_api_contract.py."""

import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ordertrack.store.models import Inbox
from tests.support import twilio
from tests.support.harness import Service
from tests.support.shared_service import shared_service
from tests.support.webhooks import Request, fixture_body, fixture_names, request_for, source_modules

SOURCES = sorted(source_modules())
#: Every documented payload of every source: what the structural mutations start from.
FIXTURES = [(source, name) for source in SOURCES for name in fixture_names(source)]
#: Headers the sources read (any case is the same header), and a few HTTP ones.
KNOWN_HEADERS = sorted(
    {name for source, name in FIXTURES[:: max(1, len(FIXTURES) // 40)] for name in
     request_for(source, name).headers}
    | {"Content-Type", "Content-Encoding", "Transfer-Encoding", "X-Twilio-Signature"}
)  # fmt: skip
#: What a successful answer says, and whether it stored a row.
STORED = {"accepted": True, "ignored": True, "duplicate": False, "handshake": False}


def _settings(examples: int):
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )


@pytest.fixture(scope="module")
def receiver() -> Iterator[Service]:
    """The app with no queue worker: the receiver's own work is what is under test."""
    with shared_service(with_worker=False, **twilio.ENV) as (service, _, _):
        yield service


def _inbox(receiver: Service) -> int:
    with receiver.runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(Inbox))


def _post(receiver: Service, answers: Counter, path: str, body: bytes, headers: dict) -> None:
    """One request, and the invariants on its answer and the inbox; counted in `answers`."""
    before = _inbox(receiver)
    answer = receiver.client.post(path, data=body, headers=headers)
    stored = _inbox(receiver) - before
    answers[answer.status_code] += 1
    said = answer.get_json(silent=True)
    where = f"{path} {answer.status_code} {answer.get_data()[:300]!r}"
    assert answer.status_code < 500, where
    assert isinstance(said, dict), f"not a JSON object: {where}"
    if answer.status_code >= 400:
        assert isinstance(said.get("error"), str) and said["error"].strip(), where
        assert said.get("status") == answer.status_code, where
        assert stored == 0, f"a refused request stored {stored} rows: {where}"
    else:
        assert 200 <= answer.status_code < 300, where
        assert said.get("status") in STORED, where
        assert stored == int(STORED[said["status"]]), where


def _signed(source: str, name: str, body: bytes) -> Request:
    """`body` signed as `source` signs (BigCommerce's proof is a header that does not depend
    on the body, and its test helper reads the body: the fixture's request, body swapped)."""
    if source == "bigcommerce":
        return dataclasses.replace(request_for(source, name), body=body)
    return request_for(source, name, body)


# -- strategies ------------------------------------------------------------------------------

_LATIN1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
header_values = st.one_of(
    st.text(_LATIN1, max_size=80),
    st.sampled_from(["", " ", "v1,", "t=,v1=", "sha256=", "hmac-sha256-hex=", "application/json"]),
)
header_names = st.one_of(
    st.sampled_from(KNOWN_HEADERS),
    st.sampled_from(KNOWN_HEADERS).map(str.lower),
    st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,20}\Z"),
)
#: Mostly the sources' own paths (and Twilio's status callbacks), sometimes a made-up one.
known_paths = st.sampled_from([*SOURCES, "twilio"]).map(lambda s: f"/webhooks/{s}")
paths = st.one_of(
    known_paths,
    known_paths,
    known_paths,
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/?#%"),
            min_size=1, max_size=20).map(lambda s: f"/webhooks/{s}"),
)  # fmt: skip
#: Mostly what a provider sends, so that more requests get as far as the signature check.
content_types = st.one_of(
    st.sampled_from(["application/json", "application/json; charset=utf-8"]),
    st.sampled_from(["application/x-www-form-urlencoded", "text/plain", "application/JSON"]),
    header_values,
)
queries = st.one_of(
    st.just(""),
    st.sampled_from(["token=", "token=shippo-url-token-5c1e9a", "token=a&token=b"]),
    st.text(_LATIN1, max_size=30).map(lambda q: "token=" + q),
)
#: JSON values of every type, and the edges a strict reader must take or refuse.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 10**30, 0, -1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["", "\x00", "\ud7ff", "🚚", "x" * 5000, "1042", "2026-13-45T99:00:00Z"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def _places(document: Any, path: tuple = ()) -> Iterator[tuple]:
    """The path of every value in the document, the root included."""
    yield path
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _places(value, (*path, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _places(value, (*path, index))


def _get(document: Any, path: tuple) -> Any:
    for step in path:
        document = document[step]
    return document


def _set(document: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    _get(document, path[:-1])[path[-1]] = value
    return document


MUTATIONS = ("replace", "delete", "wrap in a list", "wrap in an object", "as a string", "nest deep")


def _mutated(data, document: Any) -> Any:
    """One to three mutations, each at a place drawn from the document as it stands."""
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        path = data.draw(st.sampled_from(list(_places(document))), label="where")
        kind = data.draw(st.sampled_from(MUTATIONS), label="how")
        if kind == "delete" and path and isinstance(_get(document, path[:-1]), dict):
            del _get(document, path[:-1])[path[-1]]
        else:
            document = _set(document, path, _replacement(data, kind, _get(document, path)))
    return document


def _replacement(data, kind: str, value: Any) -> Any:
    if kind == "wrap in a list":
        return [value]
    if kind == "wrap in an object":
        return {"value": value}
    if kind == "as a string":
        return json.dumps(value)
    if kind == "nest deep":
        return _nested(value, data.draw(st.integers(10, 80), label="depth"))
    return data.draw(json_values, label="value")


def _nested(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


# -- the properties --------------------------------------------------------------------------


def _refused_and_accepted(answers: Counter) -> None:
    """The strategy reached both sides of the receiver: some refusals, some acceptances."""
    assert any(code >= 400 for code in answers), answers
    assert any(code < 300 for code in answers), answers


def test_raw_bytes_and_headers_are_refused_with_a_reason(receiver):
    """Nothing here carries a valid proof: nothing may be stored (a 2xx is only a provider's
    handshake, which stores nothing)."""
    answers: Counter = Counter()
    before = _inbox(receiver)

    @_settings(100)
    @given(
        path=paths,
        query=queries,
        body=st.binary(max_size=2048),
        content_type=content_types,
        headers=st.dictionaries(header_names, header_values, max_size=6),
    )
    def unsigned(path, query, body, content_type, headers):
        headers = {"Content-Type": content_type, **headers}
        _post(receiver, answers, f"{path}?{query}" if query else path, body, headers)

    unsigned()
    assert _inbox(receiver) == before, f"unauthenticated input stored: {answers}"
    assert any(code == 401 for code in answers), f"none reached a signature check: {answers}"


def test_garbage_signed_validly_is_refused_with_a_reason(receiver):
    answers: Counter = Counter()
    garbage = st.one_of(
        st.binary(max_size=2048),
        st.text(max_size=500).map(str.encode),
        json_values.map(lambda value: json.dumps(value).encode()),
        st.sampled_from([b"", b"{}", b"[]", b"null", b'{"a":1,"a":2}', b"[" * 200 + b"]" * 200]),
    )

    @_settings(80)
    @given(fixture=st.sampled_from(FIXTURES), body=garbage)
    def signed_garbage(fixture, body):
        request = _signed(*fixture, body)
        _post(receiver, answers, request.path, request.body, request.headers)

    signed_garbage()
    assert any(code >= 400 for code in answers), answers


def test_mutated_provider_payloads_signed_validly_are_stored_or_refused(receiver):
    answers: Counter = Counter()

    @_settings(160)
    @given(fixture=st.sampled_from(FIXTURES), data=st.data())
    def mutated(fixture, data):
        document = _mutated(data, json.loads(fixture_body(*fixture)))
        request = _signed(*fixture, json.dumps(document).encode())
        _post(receiver, answers, request.path, request.body, request.headers)

    mutated()
    _refused_and_accepted(answers)


def test_genuine_requests_with_mutated_headers_are_stored_or_refused(receiver):
    answers: Counter = Counter()

    @_settings(80)
    @given(fixture=st.sampled_from(FIXTURES), data=st.data())
    def mutated_headers(fixture, data):
        request = request_for(*fixture)
        headers = dict(request.headers)
        for _ in range(data.draw(st.integers(1, 3), label="changes")):
            name = data.draw(st.sampled_from(sorted(headers)) | header_names, label="header")
            if data.draw(st.booleans(), label="drop") and name in headers:
                del headers[name]
            else:
                headers[name] = data.draw(header_values, label="value")
        _post(receiver, answers, request.path, request.body, headers)

    mutated_headers()
    _refused_and_accepted(answers)
