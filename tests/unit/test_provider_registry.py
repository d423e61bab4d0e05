"""Every registered provider is complete: its folder has the layout docs/adding-a-provider.md
describes, it has fixtures and specification tests, the simulator can sign a request for it
(and the provider's own verify() accepts what it signed), and the docs have a section for it.
A source added without one of these fails here, named."""

import importlib
import re
from pathlib import Path

import pytest
from werkzeug.datastructures import Headers

from ordertrack import providers
from ordertrack.errors import BadSignature
from ordertrack.providers.base import Credentials, WebhookRequest
from ordertrack.providers.spec import Provider
from simulate.sources import builder
from tests.support.webhooks import fixture_body, fixture_names, source_modules

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(providers.registry())
#: The modules every provider folder holds (docs/adding-a-provider.md, "the folder").
LAYOUT = ("__init__.py", "tables.py", "schemas.py", "normalizers.py")


def test_every_provider_in_the_folder_is_registered_under_its_own_name():
    folders = {
        path.name
        for path in (ROOT / "ordertrack" / "providers").iterdir()
        if (path / "__init__.py").is_file()
    }
    assert folders == set(SOURCES)
    assert all(providers.get(name).name == name for name in SOURCES)


@pytest.mark.parametrize("source", SOURCES)
def test_the_folder_has_the_documented_layout(source):
    package = importlib.import_module(f"ordertrack.providers.{source}")
    folder = Path(package.__file__).parent
    assert {name for name in LAYOUT if (folder / name).is_file()} == set(LAYOUT)
    assert package.PROVIDER is providers.get(source)
    assert isinstance(package.PROVIDER, Provider)


def test_the_contributor_page_describes_the_layout_and_the_test_helper():
    page = (ROOT / "docs" / "adding-a-provider.md").read_text()
    for name in (*LAYOUT, "PROVIDER = Provider(", "NORMALIZERS", "check_webhook"):
        assert name in page, name


@pytest.mark.parametrize("source", SOURCES)
def test_it_has_fixtures_a_test_secret_and_specification_tests(source):
    assert fixture_names(source), f"no fixtures in tests/fixtures/{source}/"
    assert source_modules()[source].SECRET, f"no tests/support/sources/{source}.py"
    assert (ROOT / "tests" / "unit" / "providers" / f"test_{source}.py").is_file()


@pytest.mark.parametrize("source", SOURCES)
def test_the_simulator_signs_a_request_the_provider_verifies(source):
    body = fixture_body(source, fixture_names(source)[0])
    secret = f"registry-{source}-Secret2026-0123456789abcdef"
    signer = builder(source).sign
    provider = providers.get(source)

    provider.verify(_delivery(body, signer(body, secret)), Credentials(secrets=(secret,)))
    with pytest.raises(BadSignature):
        provider.verify(_delivery(body, signer(body, "not" + secret)), Credentials((secret,)))


@pytest.mark.parametrize("source", SOURCES)
def test_the_docs_have_a_section_for_it(source):
    kind = providers.get(source).kind
    generated = (ROOT / "docs" / "providers.md").read_text()
    assert f"\n## {source} ({kind})\n" in generated
    readme = (ROOT / "README.md").read_text()
    assert re.search(rf"^\| `WEBHOOK_SECRET_{source.upper()}` \|", readme, re.MULTILINE)


def _delivery(body: bytes, headers: dict[str, str]) -> WebhookRequest:
    return WebhookRequest(body=body, headers=Headers(headers), query={})
