"""A NUL character (\\x00) in what a person types or puts in an address: PostgreSQL text can
hold no NUL and psycopg refuses one as a query parameter, so it used to end in a 500 (issue
13, defect 5). Every route refuses it as bad input before any query: 400 for a form field or
a query parameter, 404 for a path (it names nothing), each in the page's own words. Run on
PostgreSQL only: SQLite stores a NUL, so it never showed the fault."""

import pytest

from tests.integration.test_console import _admin, _token
from tests.integration.test_tracking_page import CUSTOMER, _link
from tests.support.webhooks import STORY

AUTH = {"Authorization": "Bearer test-api-token"}
NUL = "\x00"


@pytest.fixture
def on_postgres(postgres_url, base_env, smtp, monkeypatch):
    from tests.support.harness import start_service

    monkeypatch.setenv("DATABASE_URL", postgres_url)
    running = start_service()
    for request in STORY[:2]:
        assert running.post(request).status_code == 202
    running.drain()
    yield running
    running.stop()


def test_a_nul_in_the_order_lookup_answers_400_with_the_no_match_form(on_postgres):
    client = on_postgres.client
    in_number = client.post("/track", data={"order_number": f"10{NUL}42", "email": CUSTOMER})
    in_email = client.post("/track", data={"order_number": "#1042", "email": f"ada{NUL}@x.y"})
    in_a_name = client.post("/track", data={"order_number": "#1042", f"e{NUL}": CUSTOMER})
    for refused in (in_number, in_email, in_a_name):
        assert refused.status_code == 400
        assert "No order matched" in refused.get_data(as_text=True)
        assert "Location" not in refused.headers
    assert in_number.get_data() == in_email.get_data()
    found = client.post("/track", data={"order_number": "#1042", "email": CUSTOMER})
    assert found.status_code == 303, "the page still finds the order"


#: (method, path, form) with a NUL in a query parameter or a form field: 400.
IN_A_FIELD = [
    ("get", "/api/v1/orders?q=10%0042", None),
    ("get", "/api/v1/notifications?status=%00", None),
    ("get", "/api/v1/returns?reason=%00", None),
    ("get", "/readyz?require=%00", None),
    ("get", "/admin/orders?q=ada%00", None),
    ("get", "/admin/inbox?show=%00&before=1%00", None),
    ("get", "/admin/returns?status=%00", None),
    ("get", "/admin/replay?source=%00", None),
    ("get", "/admin/performance?since=%00", None),
    ("get", "/admin/attention?after=%00", None),
    ("post", "/admin/users", {"email": f"x{NUL}@shop.example", "role": "staff"}),
]
#: A NUL in a path value: the path names nothing, so 404.
IN_A_PATH = [
    ("get", "/api/v1/orders/shopify/10%0042"),
    ("get", "/api/v1/shipments/ups/1Z%00"),
    ("get", "/admin/orders/shopify/10%0042"),
    ("post", "/admin/orders/shopify/10%0042/replay"),
    ("get", "/unsubscribe/%00"),
    ("post", "/unsubscribe/%00"),
    ("get", "/t/%00"),
    ("get", "/t/%00/events"),
    ("post", "/t/%00/returns"),
]


def test_no_route_answers_500_to_a_nul_in_a_field_or_a_path(on_postgres):
    client = _admin(on_postgres)
    answers = {}
    for method, path, form in IN_A_FIELD:
        if form is not None:
            form = {**form, "csrf_token": _token(client, "/admin/users")}
        answers[path] = getattr(client, method)(path, data=form, headers=AUTH).status_code
    for method, path in IN_A_PATH:
        console = path.startswith("/admin")
        form = {"csrf_token": _token(client, "/admin/orders")} if console else None
        answers[path] = getattr(client, method)(path, data=form, headers=AUTH).status_code
    expected = {path: 400 for _, path, _ in IN_A_FIELD} | {path: 404 for _, path in IN_A_PATH}
    assert answers == expected


def test_the_json_error_names_the_field_holding_the_nul(on_postgres):
    answer = on_postgres.api("/api/v1/orders?status=shipped&q=10%0042")
    assert answer.status_code == 400
    assert answer.json == {"error": "q must not contain a NUL character", "status": 400}


def test_a_nul_in_a_tracking_path_shows_the_same_page_as_any_bad_link(on_postgres):
    bad_link = on_postgres.client.get("/t/not-a-token")
    nul_link = on_postgres.client.get("/t/ab%00cd")
    assert nul_link.status_code == bad_link.status_code == 404
    assert nul_link.get_data() == bad_link.get_data()
    assert on_postgres.client.get(_link(on_postgres)).status_code == 200
