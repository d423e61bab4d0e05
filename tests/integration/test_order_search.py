"""The merchant's order list over the API (issue 10): search by order number, customer email
or name, tracking number; filters; newest change first; keyset paging, on both databases."""

import json

import pytest

from tests.support.webhooks import STORY, fixture_body, request_for, shopify

WOO = "woocommerce"


def _post(service, *requests) -> None:
    for request in requests:
        assert service.post(request).status_code in (200, 202), request.name
    service.drain()


def _woo_order(number: int, email: str = "grace@example.com"):
    order = json.loads(fixture_body(WOO, "order_created"))
    order |= {
        "id": number,
        "number": str(number),
        "date_modified_gmt": f"2026-11-0{number % 9 + 1}T10:00:00",
    }
    order["billing"] = order["billing"] | {
        "email": email,
        "first_name": "Grace",
        "last_name": "Hopper",
    }
    return request_for(WOO, "order_created", json.dumps(order).encode())


def _names(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [o["name"] for o in response.json["orders"]]


@pytest.fixture
def shop(service):
    _post(service, *STORY, request_for(WOO, "order_created"))
    return service


@pytest.mark.parametrize(
    "term",
    ["#1042", "1042", "5531234567890", "ADA@example.com", "ada lov", "1z999aa1 0123456784"],
)
def test_an_order_is_found_by_number_email_name_or_tracking_number(shop, term):
    found = shop.api(f"/api/v1/orders?q={term.replace('#', '%23')}").json["orders"]
    assert [(o["platform"], o["name"]) for o in found if o["platform"] == "shopify"] == [
        ("shopify", "#1042")
    ]
    (order,) = [o for o in found if o["platform"] == "shopify"]
    assert order["status"] == "delivered" and len(order["shipments"]) == 2
    assert "history" not in order, "a list carries summaries; the order's URL has the rest"


def test_a_search_term_that_names_nothing_finds_nothing(shop):
    assert _names(shop.api("/api/v1/orders?q=nobody%25")) == []
    assert _names(shop.api("/api/v1/orders?q=_")) == [], "LIKE wildcards are text"


def test_filters_narrow_the_list(shop):
    assert _names(shop.api("/api/v1/orders?platform=woocommerce")) == ["#2001"]
    assert _names(shop.api("/api/v1/orders?status=delivered")) == ["#1042"]
    assert _names(shop.api("/api/v1/orders?carrier=ups")) == ["#1042"]
    assert _names(shop.api("/api/v1/orders?carrier=dhl")) == []
    assert _names(shop.api("/api/v1/orders?until=2000-01-01")) == []
    assert len(_names(shop.api("/api/v1/orders?since=2000-01-01"))) == 2


def test_pages_follow_the_last_change_without_repeats_or_gaps(service):
    _post(service, *(_woo_order(3000 + n) for n in range(7)))
    _post(service, shopify("orders_create"))  # the newest change
    seen, cursor, pages = [], "", 0
    while True:
        page = service.api(f"/api/v1/orders?limit=3&cursor={cursor}").json
        seen += [(o["updated_at"], o["name"]) for o in page["orders"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 8 and len({name for _, name in seen}) == 8
    times = [at for at, _ in seen]
    assert times == sorted(times, reverse=True)
    assert seen[0][1] == "#1042", "newest change first"


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("cursor=not-a-cursor", "cursor"),
        ("status=lost", "status"),
        ("limit=0", "limit"),
        ("since=yesterday", "since"),
        ("q=%00", "NUL"),
    ],
)
def test_a_bad_query_is_a_400_that_names_what_is_wrong(shop, query, says):
    response = shop.api(f"/api/v1/orders?{query}")
    assert response.status_code == 400
    assert says in response.json["error"]


def test_the_list_needs_the_token(shop):
    assert shop.api("/api/v1/orders", token="wrong").status_code == 401
