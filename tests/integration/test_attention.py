"""Delay flags where the merchant looks (issue 11): the console's order list filtered on them
with each order's flags in its row, the order page's open delays, the "Needs attention" page
(oldest first, paged), and the hourly alert digest that lists them. The whole service on both
databases, a real SMTP server, the delay check and the sweeper's step driven by `now`."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from ordertrack import delay_check
from tests.integration.test_console import ADMIN, _add, _sign_in, _staff
from tests.support.webhooks import ORDER_ID, easypost, fixture_body, shopify
from workers.sweeper import alert_once

#: The second order, placed Monday 9 November 2026 and never shipped.
LATE_ID = "5531234567891"
USPS = "9400111899223344556677"
MERCHANT_EMAIL = "ops@shop.test"
KIND = re.compile(r'<tr data-flag="([a-z_]+)"')


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _post(service, *requests) -> None:
    for request in requests:
        assert service.post(request).status_code == 202, request.name
        service.drain()


def _unshipped_order() -> bytes:
    order = json.loads(fixture_body("shopify", "orders_create"))
    order |= {"id": int(LATE_ID), "name": "#1043", "order_number": 1043}
    order["created_at"] = order["updated_at"] = "2026-11-09T09:00:00+00:00"
    return json.dumps(order).encode()


def check(service, now: datetime) -> delay_check.Checked:
    return delay_check.check_all(service.runtime.sessions, service.runtime.settings, now)


@pytest.fixture
def shop(start, monkeypatch):
    """#1042 in transit since Tuesday 3 November (estimate the 4th), #1043 never shipped;
    Friday 6 November a holiday. Checked on Thursday 12 November: #1042 is past its estimate
    (since the 5th) and unmoved (since the 10th), #1043 not shipped (since the 11th)."""
    monkeypatch.setenv("HOLIDAYS", "2026-11-06")
    service = start()
    _post(
        service,
        shopify("orders_create"),
        shopify("fulfillments_create"),
        easypost("tracker_updated__in_transit"),
        shopify("orders_create", _unshipped_order(), webhook_id="late-order-create-1"),
    )
    return service


def _page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def _orders_listed(page: str) -> list[str]:
    return re.findall(r'href="/admin/orders/shopify/(\d+)"', page)


def test_the_order_list_filters_on_delay_and_each_row_shows_its_flags(shop):
    client = _staff(shop)
    assert _orders_listed(_page(client, "/admin/orders?flag=any")) == []
    check(shop, at("2026-11-12T00:00:00"))

    assert sorted(_orders_listed(_page(client, "/admin/orders?flag=any"))) == [ORDER_ID, LATE_ID]
    assert _orders_listed(_page(client, "/admin/orders?flag=not_shipped")) == [LATE_ID]
    listing = _page(client, "/admin/orders?flag=no_movement")
    assert _orders_listed(listing) == [ORDER_ID]
    assert '<option value="no_movement" selected>' in listing, "the select keeps the choice"
    assert re.findall(r'data-flag="([a-z_]+)"', listing) == ["past_estimate", "no_movement"]
    assert "Past its estimated delivery" in listing and "No movement in transit" in listing
    assert _orders_listed(_page(client, "/admin/orders?flag=pickup_waiting")) == []
    refused = client.get("/admin/orders?flag=late")
    assert refused.status_code == 400 and "flag must be one of" in refused.get_data(as_text=True)

    order = _page(client, f"/admin/orders/shopify/{ORDER_ID}")
    assert KIND.findall(order) == ["past_estimate", "no_movement"]
    delays = order[order.index('id="delays"') : order.index('id="parcels-heading"')]
    assert USPS in delays and "2026-11-05 00:00 UTC" in delays and "2026-11-10 08:00 UTC" in delays
    assert "estimated 2026-11-04" in delays, "the detail"
    unshipped = _page(client, f"/admin/orders/shopify/{LATE_ID}")
    assert KIND.findall(unshipped) == ["not_shipped"] and "the order" in unshipped


def test_needs_attention_lists_open_flags_oldest_first_a_page_at_a_time(shop):
    client = _staff(shop)
    empty = _page(client, "/admin/attention")
    assert "Nothing is late" in empty and 'href="/admin/attention"' in empty, "in the nav bar"
    check(shop, at("2026-11-12T00:00:00"))

    page = _page(client, "/admin/attention")
    assert KIND.findall(page) == ["past_estimate", "no_movement", "not_shipped"]
    assert _orders_listed(page) == [ORDER_ID, ORDER_ID, LATE_ID], "each links its order"
    assert "Open delays: 3" in page and "Waiting too long" not in page
    assert USPS in page and "for " in page and "2026-11-05 00:00 UTC" in page

    # A page at a time: the next links walk the same list, no row twice.
    seen, path = [], "/admin/attention?limit=1"
    while path:
        page = _page(client, path)
        seen += KIND.findall(page)
        found = re.search(r'href="([^"]+)" rel="next"', page)
        path = found.group(1).replace("&amp;", "&") if found else None
    assert seen == ["past_estimate", "no_movement", "not_shipped"]
    assert client.get("/admin/attention?after=forged").status_code == 400

    # The carrier's next scan clears "no movement": the page says so at once.
    _post(shop, easypost("tracker_updated__out_for_delivery"))
    assert KIND.findall(_page(client, "/admin/attention")) == ["past_estimate", "not_shipped"]


def test_admins_see_needs_attention_too_and_signed_out_visitors_do_not(shop):
    assert shop.client.get("/admin/attention").status_code == 303
    _add(shop, ADMIN[0], "admin", ADMIN[1])
    assert _sign_in(shop.client, *ADMIN).status_code == 303
    check(shop, at("2026-11-12T00:00:00"))
    page = _page(shop.client, "/admin/attention")
    assert 'aria-current="page">Needs attention' in page
    assert len(KIND.findall(page)) == 3


def _digests(smtp) -> list:
    return smtp.to(MERCHANT_EMAIL)


def test_the_digest_lists_open_flags_hourly_even_with_no_new_alert(start, smtp):
    service = start(MERCHANT_EMAIL=MERCHANT_EMAIL, HOLIDAYS="2026-11-06")
    _post(
        service,
        shopify("orders_create"),
        shopify("fulfillments_create"),
        easypost("tracker_updated__in_transit"),
    )
    now = datetime.now(UTC)
    alert_once(service.runtime, now)
    assert _digests(smtp) == [], "no alert, no open flag: nothing to say"

    # Today is long after the fixture's November: past its estimate, and unmoved.
    assert {c.kind for c in check(service, now).flagged} == {"past_estimate", "no_movement"}
    alert_once(service.runtime, now + timedelta(minutes=1))
    [digest] = _digests(smtp)
    assert digest["Subject"].endswith(": 2 open delays")
    body = digest.get_body(("plain",)).get_content()
    assert "alert" not in body.split("open delays")[0], "no alert was new"
    assert "- Past its estimated delivery (past_estimate): 1" in body
    assert "- No movement in transit (no_movement): 1" in body
    oldest = body[body.index("The oldest 2:") :]
    assert oldest.index("past_estimate since 2026-11-05") < oldest.index("no_movement since")
    assert "#1042" in oldest and USPS in oldest
    assert "ada@example.com" not in body, "nothing personal"

    alert_once(service.runtime, now + timedelta(minutes=30))
    assert len(_digests(smtp)) == 1, "at most one an hour"
    alert_once(service.runtime, now + timedelta(minutes=62))
    assert len(_digests(smtp)) == 2, "still open an hour later: told again"
    assert "2 open delays" in _digests(smtp)[-1]["Subject"]

    # Delivered: every flag clears, and with no alert there is nothing more to say.
    _post(service, easypost("tracker_updated__delivered"))
    alert_once(service.runtime, now + timedelta(hours=3))
    assert len(_digests(smtp)) == 2


def test_a_digest_with_a_new_alert_and_open_flags_lists_both(start, smtp):
    service = start(MERCHANT_EMAIL=MERCHANT_EMAIL)
    _post(
        service,
        shopify("orders_create"),
        shopify("orders_create", _unshipped_order(), webhook_id="late-order-create-1"),
    )
    now = datetime.now(UTC)
    check(service, now)
    unknown = json.loads(fixture_body("easypost", "tracker_updated__in_transit"))
    unknown["id"] = "evt_" + "u" * 32
    unknown["result"]["status"] = "teleported"
    _post(service, easypost("x", json.dumps(unknown).encode()))
    alert_once(service.runtime, now + timedelta(minutes=1))

    [digest] = _digests(smtp)
    assert digest["Subject"].endswith(": 1 alert, 2 open delays")
    body = digest.get_body(("plain",)).get_content()
    assert "ops.unknown_code" in body and "code=teleported" in body
    assert "- Not shipped in time (not_shipped): 2" in body
    oldest = body[body.index("The oldest 2:") :]
    assert oldest.index("#1042") < oldest.index("#1043"), "oldest first"
    assert "the order  not_shipped since" in oldest
