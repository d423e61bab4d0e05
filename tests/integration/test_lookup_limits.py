"""The /track look-up cannot be guessed (issue 13, defect 6; docs/faults.md, TRK-1 and TRK-3):
a client is counted by its IPv4 address or its IPv6 /64, an order number by itself whoever
asks, and with REDIS_URL every web process counts in the same place."""

import pytest

from service import tracking
from service.console import auth
from tests.integration.test_console import ADMIN, _add, _sign_in
from tests.integration.test_tracking_page import CUSTOMER
from tests.support.harness import start_service
from tests.support.processes import RedisServer
from tests.support.webhooks import STORY


def _ask(service, address: str, number: str = "#1042", email: str = "guess@example.com"):
    form = {"order_number": number, "email": email}
    return service.client.post("/track", data=form, environ_base={"REMOTE_ADDR": address})


@pytest.fixture(params=["in-process", "redis"])
def page(request, database_url, base_env, tmp_path, monkeypatch):
    """The service with the story's order #1042, counting in memory or in a private Redis."""
    server = RedisServer(tmp_path).start() if request.param == "redis" else None
    monkeypatch.setenv("DATABASE_URL", database_url)
    if server:
        monkeypatch.setenv("REDIS_URL", server.url)
    service = start_service()
    try:
        assert service.post(STORY[0]).status_code == 202
        service.drain()
        yield service
    finally:
        service.stop()
        if server:
            server.stop()


def test_many_ipv6_addresses_in_one_slash_64_are_limited_together(page):
    answers = [
        _ask(page, f"2001:db8:1:2:{n:x}::{n + 7:x}", number=f"#{9000 + n}").status_code
        for n in range(tracking.LOOKUP_LIMIT + 1)
    ]
    assert answers == [200] * tracking.LOOKUP_LIMIT + [429]
    refused = _ask(page, "2001:db8:1:2:ffff:ffff:ffff:ffff", number="#1042", email=CUSTOMER)
    assert refused.status_code == 429, "the right pair from the same /64 waits too"
    assert 0 < int(refused.headers["Retry-After"]) <= tracking.LOOKUP_WINDOW
    assert _ask(page, "2001:db8:1:3::1", email=CUSTOMER).status_code == 303, "the next /64"


def test_guessing_one_order_number_from_many_addresses_is_limited(page):
    spellings = ("#1042", "1042", " #1042 ")
    answers = [
        _ask(page, f"198.51.100.{n}", number=spellings[n % 3]).status_code
        for n in range(tracking.ORDER_LOOKUP_LIMIT + 1)
    ]
    assert answers == [200] * tracking.ORDER_LOOKUP_LIMIT + [429]
    locked = _ask(page, "203.0.113.50", email=CUSTOMER)
    assert locked.status_code == 429, "locked even for the right pair: no oracle"
    assert 0 < int(locked.headers["Retry-After"]) <= tracking.ORDER_LOOKUP_WINDOW
    assert "1042" not in locked.get_data(as_text=True)
    assert _ask(page, "203.0.113.51", number="#1043").status_code == 200, "another order"


def test_a_customer_finding_their_own_order_is_not_counted_against_it(page):
    for n in range(tracking.ORDER_LOOKUP_LIMIT + 2):
        assert _ask(page, f"192.0.2.{n}", email=CUSTOMER).status_code == 303
    assert _ask(page, "192.0.2.200").status_code == 200, "a miss is still answered"


def test_two_app_instances_on_one_redis_share_the_count(
    database_url, base_env, tmp_path, monkeypatch
):
    server = RedisServer(tmp_path).start()
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", server.url)
    first, second = start_service(with_worker=False), start_service(with_worker=False)
    try:
        answers = [
            _ask((first, second)[n % 2], "203.0.113.9", number=f"#{7000 + n}").status_code
            for n in range(tracking.LOOKUP_LIMIT + 2)
        ]
    finally:
        first.stop()
        second.stop()
        server.stop()
    assert answers == [200] * tracking.LOOKUP_LIMIT + [429, 429]


def test_console_sign_in_attempts_are_counted_together_by_two_instances(
    database_url, base_env, tmp_path, monkeypatch
):
    """The same shared windows limit the console's sign-in per account."""
    server = RedisServer(tmp_path).start()
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", server.url)
    first, second = start_service(with_worker=False), start_service(with_worker=False)
    try:
        _add(first, ADMIN[0], "admin", ADMIN[1])
        answers = [
            _sign_in((first, second)[n % 2].client, ADMIN[0], "a wrong guess!").status_code
            for n in range(auth.ACCOUNT_LIMIT + 1)
        ]
    finally:
        first.stop()
        second.stop()
        server.stop()
    assert answers == [401] * auth.ACCOUNT_LIMIT + [429]


def test_with_redis_gone_the_lookup_still_answers_counting_in_the_process(
    database_url, base_env, tmp_path, monkeypatch
):
    server = RedisServer(tmp_path).start()
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", server.url)
    service = start_service(with_worker=False)
    try:
        assert _ask(service, "203.0.113.9", number="#1").status_code == 200
        server.crash()
        answers = [
            _ask(service, "203.0.113.9", number=f"#{n}").status_code
            for n in range(tracking.LOOKUP_LIMIT + 1)
        ]
    finally:
        service.stop()
        server.stop()
    assert answers == [200] * tracking.LOOKUP_LIMIT + [429]
