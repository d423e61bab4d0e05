"""The live API against its own document (issue 10): schemathesis generates requests, valid
and invalid, for every operation, sends them to the real app on PostgreSQL with orders,
notifications and returns in it, and checks that no answer is a 5xx and that every answer is
one the document names, with the body its schema describes."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ordertrack.notifications.links import tracking_token
from ordertrack.store.models import Order
from service import returns_page
from service.openapi import OPERATIONS
from tests.support.harness import start_service
from tests.support.webhooks import ORDER_ID, STORY

AUTH = {"Authorization": "Bearer test-api-token"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: The story's UPS parcel.
UPS = "1Z999AA10123456784"
#: A line item of the story's order, which the customer asks to return.
POSTER = "13001234567890"


def _ask_for_a_return(running) -> None:
    """The customer asks through their tracking link, as test_returns does."""
    with running.runtime.sessions() as session:
        order_id = session.query(Order.id).filter(Order.external_id == ORDER_ID).scalar()
    keys = running.app.extensions["ordertrack"].link_keys
    form = {
        "form_token": returns_page.form_token(keys, order_id),
        "reason": "damaged",
        f"qty_{POSTER}": "1",
    }
    answer = running.client.post(f"/t/{tracking_token(keys, order_id)}/returns", data=form)
    assert answer.status_code == 303, answer.status_code


@pytest.fixture
def shop(postgres_url, base_env, smtp, monkeypatch):
    """The service on PostgreSQL (it refuses what SQLite lets by: NUL, out-of-range ids),
    with the story's order, its notifications and a return to work on."""
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    monkeypatch.setenv("RETURN_WINDOW_DAYS", "36500")
    running = start_service()
    for request in STORY:
        assert running.post(request).status_code in (200, 202), request.name
    running.drain()
    _ask_for_a_return(running)
    yield running
    running.stop()


#: Examples per operation and mode: enough to find a 5xx, few enough to stay under a minute.
MAX_EXAMPLES = 25


def _exercise(operation, mode: GenerationMode) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def call(case):
        case.call_and_validate(headers=AUTH, checks=CHECKS)

    call()


def _modes(operation) -> list[GenerationMode]:
    """Invalid input too, where there is input: a page with none has nothing to get wrong."""
    inputs = (operation.path_parameters, operation.query, operation.body)
    if any(len(part) for part in inputs):
        return [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    return [GenerationMode.POSITIVE]


@pytest.mark.timeout(300)
def test_every_answer_is_one_the_document_describes(shop):
    """Each operation, with valid and with invalid input. (One test that walks the operations,
    not `schema.parametrize()`: its lazy fixture loading does not run on pytest 9.)"""
    api = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", shop.app)
    operations = [result.ok() for result in api.get_all_operations()]
    # Every operation but the one that serves the document: schemathesis leaves that out.
    assert len(operations) == len(OPERATIONS) - 1
    failures = []
    for operation in operations:
        for mode in _modes(operation):
            try:
                _exercise(operation, mode)
            except Exception as error:  # each operation's failure is reported, not just the first
                failures.append(f"{operation.label} ({mode.value}): {error}")
    assert not failures, "\n\n".join(failures)


RETURN_PARCEL = {"tracking_number": "9400 1000 0000", "carrier": "USPS"}
#: The story's real rows, which random ids seldom name: (method, path, path values, body).
REAL = [
    ("GET", "/orders/{platform}/{external_id}", {"platform": "shopify", "external_id": ORDER_ID}),
    ("GET", "/shipments/{carrier}/{tracking_number}", {"carrier": "ups", "tracking_number": UPS}),
    ("GET", "/returns/{return_id}", {"return_id": 1}),
    ("POST", "/returns/{return_id}/approve", {"return_id": 1}, {"note": "Fine"}),
    ("POST", "/returns/{return_id}/tracking", {"return_id": 1}, RETURN_PARCEL),
]  # fmt: skip


def test_real_documents_match_their_schemas(shop):
    """An order, a parcel and a return whole, through the same checks."""
    api = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", shop.app)
    for method, path, values, *body in REAL:
        operation = api[f"/api/v1{path}"][method]
        case = operation.Case(path_parameters=values, **({"body": body[0]} if body else {}))
        response = case.call_and_validate(headers=AUTH, checks=CHECKS)
        assert response.status_code == 200, (path, response.text)
