"""No fixture rots: every provider fixture file is named, as a string literal, by at least one
test file. A loop over the directory does not count; somebody has to say what it should do."""

import re
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent
FIXTURES = TESTS / "fixtures"
#: Not events of the story: the topic table and EasyPost's signature known-answer pair.
NOT_EVENTS = {"topics.json", "signature_vector.json", "event-body.json"}
#: How many event fixtures each source has (BigCommerce's include its API answers, in api/).
EXPECTED = {
    "shopify": 13,
    "easypost": 15,
    "woocommerce": 10,
    "bigcommerce": 25,
    "aftership": 11,
    "shippo": 9,
    "ups": 10,
    "fedex": 8,
    "twilio": 10,
}


def _fixture_files() -> list[str]:
    return sorted(
        str(path.relative_to(FIXTURES))
        for path in FIXTURES.rglob("*.json")
        if path.name not in NOT_EVENTS
    )


def _test_sources() -> str:
    return "\n".join(
        path.read_text(encoding="utf-8")
        for path in sorted(TESTS.rglob("test_*.py"))
        if path.resolve() != Path(__file__).resolve()
    )


SOURCE_TEXT = _test_sources()


def test_every_source_has_its_fixtures_and_none_is_lost():
    counts = {source: 0 for source in EXPECTED}
    for fixture in _fixture_files():
        source = fixture.split("/")[0]
        counts[source] = counts.get(source, 0) + 1
    assert counts == EXPECTED


@pytest.mark.parametrize("fixture", _fixture_files())
def test_fixture_is_named_by_a_test(fixture):
    stem = Path(fixture).stem
    # The exact name in quotes, so fulfillments_create is not found inside
    # "fulfillments_create__second_parcel".
    named = re.compile(rf"""["']{re.escape(stem)}(\.json)?["']""")
    assert named.search(SOURCE_TEXT), f"{fixture} is not named by any test under tests/"
