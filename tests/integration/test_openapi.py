"""The API's description (issue 10): a valid OpenAPI 3.1 document that names every route
under /api/v1, served without a token, and a reference page our own server renders."""

import re

import pytest
from openapi_spec_validator import validate

from ordertrack.store.migrate import upgrade
from service.openapi import OPERATIONS, PREFIX
from tests.support.harness import start_service

AUTH = {"Authorization": "Bearer test-api-token"}


@pytest.fixture
def running(base_env, tmp_path, monkeypatch):
    """The document does not depend on the database: SQLite is enough here."""
    url = f"sqlite:///{tmp_path / 'ordertrack.db'}"
    upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    service = start_service(with_worker=False)
    yield service
    service.stop()


@pytest.fixture
def document(running) -> dict:
    answer = running.client.get("/api/v1/openapi.json")
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    return answer.json


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                yield path, method, operation


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_route_under_api_v1_is_in_the_document_and_nothing_else(running, document):
    served = set()
    for rule in running.app.url_map.iter_rules():
        if rule.rule.startswith(PREFIX + "/"):
            path = re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule.rule)
            served |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    described = {(path, method) for path, method, _ in _operations(document)}
    assert served == described
    endpoints = {rule.endpoint for rule in running.app.url_map.iter_rules()}
    assert set(OPERATIONS) <= endpoints, "OPERATIONS names an endpoint that no longer exists"


def test_every_error_answer_is_documented_with_the_error_schema(document):
    error = {"$ref": "#/components/schemas/Error"}
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for path, method, operation in _operations(document):
        answers = operation["responses"]
        public = operation.get("security") == []
        assert public or "401" in answers, (path, method)
        if "{" in path:
            assert "404" in answers, (path, method)
        if operation.get("parameters") or operation.get("requestBody"):
            assert "400" in answers, (path, method)
        for code, answer in answers.items():
            if code.startswith("4"):
                assert answer["content"]["application/json"]["schema"] == error, (path, code)


def test_the_answers_name_their_schemas_with_nested_parts(document):
    schemas = document["components"]["schemas"]
    for name in ("Order", "Shipment", "HistoryEntry", "Notification", "Attempt", "Return"):
        assert name in schemas, name
    order = schemas["Order"]["properties"]
    assert order["history"]["items"] == {"$ref": "#/components/schemas/HistoryEntry"}
    assert set(schemas["Error"]["required"]) == {"error", "status"}
    assert schemas["Shipment"]["properties"]["tracking_number"]["type"] == ["string", "null"]


def test_the_document_and_its_page_need_no_token_but_the_api_does(running):
    assert running.client.get("/api/v1/openapi.json").status_code == 200
    assert running.client.get("/api/v1/docs").status_code == 200
    refused = running.client.get("/api/v1/orders")
    assert refused.status_code == 401 and refused.json["status"] == 401


def test_the_page_lists_every_operation_and_loads_nothing_from_elsewhere(running, document):
    page = running.client.get("/api/v1/docs")
    assert page.mimetype == "text/html"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    for path, method, operation in _operations(document):
        assert f'id="op-{operation["operationId"]}"' in html, (path, method)
    for name in document["components"]["schemas"]:
        assert f'id="schema-{name}"' in html, name
    assert '<a href="#schema-OrderPage">OrderPage</a>' in html
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert "no token needed" in html and "bearer token" in html


def test_a_replay_dry_run_must_be_a_boolean(running):
    answer = running.client.post(
        "/api/v1/replay", json={"status": "failed", "dry_run": "false"}, headers=AUTH
    )
    assert answer.status_code == 400 and "dry_run" in answer.json["error"]
