"""docs/providers.md is generated from the providers' tables; it must not drift."""

from pathlib import Path

from ordertrack.provider_docs import render

DOC = Path(__file__).parents[2] / "docs" / "providers.md"


def test_docs_providers_md_matches_the_tables_in_code():
    assert DOC.read_text() == render(), (
        "run: python -m ordertrack.provider_docs > docs/providers.md"
    )


def test_every_mapped_code_of_every_source_is_in_the_docs():
    text = DOC.read_text()
    for code in ("pre_transit", "return_to_sender", "attempted_delivery", "partially_refunded"):
        assert f"| `{code}` |" in text
