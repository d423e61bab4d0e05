"""Returns from request to refund: the customer asks from the tracking link, the merchant
works the return through the API, on the in-process broker and both databases."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from ordertrack.notifications.links import tracking_token
from ordertrack.store import returns
from ordertrack.store.models import Order
from service import returns_page
from tests.support.processes import wait_for
from tests.support.webhooks import ORDER_ID, STORY, easypost, fixture_body, shopify

POSTER, MUG = "13001234567890", "13001234567891"
AUTH = {"Authorization": "Bearer test-api-token"}
#: The story was delivered on 5 November 2026; this keeps the window open whatever the date.
WIDE_OPEN = "36500"


@pytest.fixture
def shop(start):
    def _shop(story=STORY, **env):
        running = start(**{"RETURN_WINDOW_DAYS": WIDE_OPEN} | env)
        for request in story:
            assert running.post(request).status_code in (200, 202), request.name
        running.drain()
        return running

    return _shop


def _order_id(running) -> int:
    with running.runtime.sessions() as session:
        return session.scalar(select(Order.id).where(Order.external_id == ORDER_ID))


def _link(running) -> tuple[str, int]:
    order_id = _order_id(running)
    return tracking_token(running.app.extensions["ordertrack"].link_keys, order_id), order_id


def _ask(running, token=None, order_id=None, **form):
    """The customer submits the return form behind their tracking link."""
    if token is None:
        token, order_id = _link(running)
    keys = running.app.extensions["ordertrack"].link_keys
    data = {"form_token": returns_page.form_token(keys, order_id), "reason": "damaged"} | form
    return running.client.post(f"/t/{token}/returns", data=data)


def _api_post(running, path: str, body: dict | None = None):
    return running.client.post(f"/api/v1/returns/{path}", json=body or {}, headers=AUTH)


def _the_only_return(running) -> dict:
    listed = running.client.get("/api/v1/returns", headers=AUTH).json["returns"]
    assert len(listed) == 1
    return listed[0]


def test_customer_requests_a_return_of_a_delivered_order_and_the_merchant_sees_it(shop):
    running = shop()
    token, _ = _link(running)
    answer = _ask(running, **{f"qty_{MUG}": "2", f"qty_{POSTER}": "0", "comment": "Chipped"})
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith(f"/t/{token}#return")
    listed = _the_only_return(running)
    assert listed["status"] == "requested" and listed["reason"] == "damaged"
    assert listed["comment"] == "Chipped"
    assert listed["items"] == [
        {"line_item_id": MUG, "title": "Difference Engine Mug", "quantity": 2}
    ]
    assert listed["order"] == {"platform": "shopify", "external_id": ORDER_ID, "name": "#1042"}


def test_a_request_outside_the_window_is_refused_with_the_reason(shop):
    running = shop(RETURN_WINDOW_DAYS="1")
    answer = _ask(running, **{f"qty_{POSTER}": "1"})
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert "The return window of 1 days after delivery closed on 6 November 2026." in page
    assert "<form" not in page
    assert running.client.get("/api/v1/returns", headers=AUTH).json["returns"] == []


def test_a_request_for_an_undelivered_order_is_refused_with_the_reason(shop):
    running = shop(story=STORY[:3])
    answer = _ask(running, **{f"qty_{POSTER}": "1"})
    assert answer.status_code == 400
    assert "Returns open once your order has been delivered." in answer.get_data(as_text=True)


def test_more_than_ordered_is_refused_and_a_rejected_return_frees_its_items(shop):
    running = shop()
    over = _ask(running, **{f"qty_{MUG}": "3"})
    assert over.status_code == 400
    assert "You can return at most 2 of “Difference Engine Mug”." in over.get_data(as_text=True)
    assert _ask(running, **{f"qty_{MUG}": "2"}).status_code == 303
    again = _ask(running, **{f"qty_{MUG}": "1"})
    assert "at most 0 of" in again.get_data(as_text=True)
    assert _api_post(running, f"{_the_only_return(running)['id']}/reject").status_code == 200
    assert _ask(running, **{f"qty_{MUG}": "1"}).status_code == 303


def test_a_refused_request_shows_the_form_again_with_the_customers_choices(shop):
    running = shop()
    token, order_id = _link(running)  # once: a link is dated to the second it is made
    form = {"reason": "not_a_reason", "comment": "Too big", f"qty_{MUG}": "1"}
    answer = _ask(running, token, order_id, **form)
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert "Please choose a reason for the return." in page
    assert 'name="form_token"' in page and "Too big</textarea>" in page
    assert '<option value="1" selected>1</option>' in page
    assert f'<a href="/t/{token}">Back to your order</a>' in page
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({}, "Please choose at least one item to return."),
        ({"qty_999": "1"}, "The form names an item that is not in this order."),
        ({f"qty_{MUG}": "-1"}, "Please choose how many"),
        ({f"qty_{MUG}": "1", "comment": "x" * 1001}, "at most 1000 characters"),
        ({f"qty_{MUG}": "1", "form_token": "forged"}, "This form has expired."),
    ],
)
def test_a_malformed_request_is_refused_with_a_clear_message(shop, form, message):
    running = shop()
    answer = _ask(running, **form)
    assert answer.status_code == 400
    assert message in answer.get_data(as_text=True)


def test_a_comment_of_1000_characters_with_browser_line_breaks_is_accepted(shop):
    running = shop()
    comment = "line one\r\n" + "x" * 991  # 1000 once the break is one character
    assert _ask(running, comment=comment, **{f"qty_{MUG}": "1"}).status_code == 303
    assert _the_only_return(running)["comment"] == comment.replace("\r\n", "\n")


def test_a_form_token_of_another_order_does_not_count(shop):
    running = shop()
    token, order_id = _link(running)
    answer = _ask(running, token, order_id + 1, **{f"qty_{MUG}": "1"})
    assert "This form has expired." in answer.get_data(as_text=True)


def test_a_forged_tracking_link_reveals_nothing(shop):
    running = shop()
    _, order_id = _link(running)
    answer = _ask(running, "forged-token", order_id, **{f"qty_{MUG}": "1"})
    assert answer.status_code == 404
    page = answer.get_data(as_text=True)
    assert "Link not recognised" in page and "Difference Engine" not in page


def test_merchant_approves_attaches_tracking_receives_and_refunds(shop):
    running = shop()
    _ask(running, **{f"qty_{POSTER}": "1"}, reason="wrong_item")
    return_id = _the_only_return(running)["id"]
    approved = _api_post(running, f"{return_id}/approve", {"note": "Use the prepaid label"})
    assert approved.status_code == 200 and approved.json["note"] == "Use the prepaid label"
    sent = _api_post(
        running, f"{return_id}/tracking", {"tracking_number": "9400 1000", "carrier": "USPS"}
    )
    assert sent.json["status"] == "in_transit" and sent.json["tracking_number"] == "94001000"
    assert _api_post(running, f"{return_id}/received").json["status"] == "received"
    assert _api_post(running, f"{return_id}/refunded").json["status"] == "refunded"
    one = running.client.get(f"/api/v1/returns/{return_id}", headers=AUTH).json
    steps = [(step["status"], step["actor"]) for step in one["history"]]
    assert steps == [
        ("requested", "customer"),
        ("approved", "merchant"),
        ("in_transit", "merchant"),
        ("received", "merchant"),
        ("refunded", "merchant"),
    ]
    assert one["carrier"] == "USPS" and one["items"][0]["title"] == "Analytical Engine Poster"


def test_illegal_moves_answer_409_naming_the_current_status(shop):
    running = shop()
    _ask(running, **{f"qty_{POSTER}": "1"})
    return_id = _the_only_return(running)["id"]
    early = _api_post(running, f"{return_id}/refunded")
    assert early.status_code == 409
    assert early.json["details"]["current_status"] == "requested"
    assert "is requested" in early.json["error"]
    _api_post(running, f"{return_id}/reject", {"note": "Worn"})
    late = _api_post(running, f"{return_id}/approve")
    assert late.status_code == 409 and late.json["details"]["current_status"] == "rejected"
    assert _api_post(running, "999999/approve").status_code == 404


def test_merchant_filters_by_status_reason_order_and_date(shop):
    running = shop()
    _ask(running, **{f"qty_{POSTER}": "1"}, reason="too_late")
    _ask(running, **{f"qty_{MUG}": "1"}, reason="other")
    newest, oldest = running.client.get("/api/v1/returns", headers=AUTH).json["returns"]
    assert newest["reason"] == "other" and oldest["reason"] == "too_late"
    _api_post(running, f"{oldest['id']}/approve")

    def ids(query: str) -> list[int]:
        answer = running.client.get(f"/api/v1/returns?{query}", headers=AUTH)
        assert answer.status_code == 200, answer.json
        return [r["id"] for r in answer.json["returns"]]

    today = datetime.now(UTC).date().isoformat()
    assert ids("status=approved") == [oldest["id"]]
    assert ids("reason=other") == [newest["id"]]
    assert ids(f"order={ORDER_ID}") == ids("order=%231042") == [newest["id"], oldest["id"]]
    assert ids("order=1") == []
    assert ids(f"since={today}&until={today}") == [newest["id"], oldest["id"]]
    assert ids("until=2026-01-01") == []
    assert running.client.get("/api/v1/returns?status=lost", headers=AUTH).status_code == 400
    assert running.client.get("/api/v1/returns?since=soon", headers=AUTH).status_code == 400


def test_csv_export_has_a_header_and_defuses_formulas(shop):
    running = shop()
    _ask(running, **{f"qty_{MUG}": "2"}, comment='=HYPERLINK("http://evil.test","x")')
    answer = running.client.get("/api/v1/returns.csv?reason=damaged", headers=AUTH)
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    header, row = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
    assert header[:5] == ["id", "created_at", "updated_at", "status", "reason"]
    cells = dict(zip(header, row, strict=True))
    assert cells["comment"] == '\'=HYPERLINK("http://evil.test","x")'
    assert cells["items"] == "2 x Difference Engine Mug" and cells["order_name"] == "#1042"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/returns"),
        ("get", "/api/v1/returns.csv"),
        ("get", "/api/v1/returns/1"),
        ("post", "/api/v1/returns/1/approve"),
        ("post", "/api/v1/returns/1/refunded"),
    ],
)
def test_the_returns_api_needs_the_token(shop, method, path):
    running = shop(story=[])
    assert getattr(running.client, method)(path).status_code == 401
    wrong = {"Authorization": "Bearer wrong"}
    assert getattr(running.client, method)(path, headers=wrong).status_code == 401


def test_a_platform_refund_refunds_the_orders_approved_returns_only(shop):
    running = shop()
    _ask(running, **{f"qty_{POSTER}": "1"})
    _ask(running, **{f"qty_{MUG}": "1"})
    newest, oldest = running.client.get("/api/v1/returns", headers=AUTH).json["returns"]
    _api_post(running, f"{oldest['id']}/approve")
    with running.runtime.durable_sessions.begin() as session:
        moved = returns.mark_refunded_by_platform(session, _order_id(running), datetime.now(UTC))
        assert [row.id for row in moved] == [oldest["id"]]
    one = running.client.get(f"/api/v1/returns/{oldest['id']}", headers=AUTH).json
    assert one["status"] == "refunded" and one["history"][-1]["actor"] == "platform"
    still = running.client.get(f"/api/v1/returns/{newest['id']}", headers=AUTH).json
    assert still["status"] == "requested"


def test_a_carrier_delivery_of_the_return_parcel_marks_it_received(shop):
    running = shop()
    _ask(running, **{f"qty_{POSTER}": "1"})
    return_id = _the_only_return(running)["id"]
    _api_post(running, f"{return_id}/approve")
    _api_post(running, f"{return_id}/tracking", {"tracking_number": "1Z999", "carrier": "UPS"})
    with running.runtime.durable_sessions.begin() as session:
        returns.mark_received_by_carrier(session, "1z999", datetime.now(UTC))
    one = running.client.get(f"/api/v1/returns/{return_id}", headers=AUTH).json
    assert one["status"] == "received" and one["history"][-1]["actor"] == "carrier"


def _section(running) -> str:
    """The returns section as the tracking page includes it."""
    from flask import render_template_string

    token, order_id = _link(running)
    with running.app.test_request_context(), running.runtime.sessions() as session:
        order = session.get(Order, order_id)
        context = returns_page.returns_context(session, order, token)
        return render_template_string('{% include "tracking/returns.html" %}', returns=context)


def test_the_section_offers_the_form_with_the_policy_inside_the_window(shop):
    running = shop(RETURN_POLICY_TEXT="Unused items, 30 days.")
    section = _section(running)
    assert 'id="return"' in section and "Unused items, 30 days." in section
    assert '<select id="qty_13001234567891" name="qty_13001234567891">' in section
    assert '<option value="2">2</option>' in section
    assert '<option value="not_as_described">It is not as described</option>' in section
    assert 'maxlength="1000"' in section


def test_the_section_lists_the_orders_returns_in_words_and_escapes_the_note(shop):
    running = shop()
    _ask(running, **{f"qty_{MUG}": "2", f"qty_{POSTER}": "1"})
    _api_post(running, f"{_the_only_return(running)['id']}/reject", {"note": "<b>Used</b>"})
    _ask(running, **{f"qty_{MUG}": "2", f"qty_{POSTER}": "1"})
    section = _section(running)
    assert "Not accepted" in section and "Note from the shop: &lt;b&gt;Used&lt;/b&gt;" in section
    assert "Requested: the shop will look at it soon" in section
    assert "2 \u00d7 Difference Engine Mug" in section
    assert "Every item of this order is already part of a return." in section


def test_the_section_says_why_not_for_an_undelivered_order(shop):
    section = _section(shop(story=STORY[:3]))
    assert "Returns open once your order has been delivered." in section
    assert "<form" not in section


def test_two_requests_at_once_cannot_both_take_the_same_items(shop):
    from concurrent.futures import ThreadPoolExecutor

    running = shop()
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: _ask(running, **{f"qty_{MUG}": "2"}), range(4)))
    assert sorted(a.status_code for a in answers) == [303, 400, 400, 400]
    assert _the_only_return(running)["items"][0]["quantity"] == 2


def test_bad_merchant_input_is_a_400_that_changes_nothing(shop):
    running = shop()
    _ask(running, **{f"qty_{POSTER}": "1"})
    return_id = _the_only_return(running)["id"]
    for path, body in [
        ("approve", {"note": "nul \x00 here"}),
        ("approve", {"note": 42}),
        ("reject", {"note": "x" * 2001}),
        ("tracking", {"tracking_number": "", "carrier": "UPS"}),
        ("tracking", {"tracking_number": "1Z\x00", "carrier": "UPS"}),
    ]:
        assert _api_post(running, f"{return_id}/{path}", body).status_code == 400, (path, body)
    for query in ("order=%00", "since=9999-12-31&until=9999-12-31", "reason=lost"):
        answer = running.client.get(f"/api/v1/returns?{query}", headers=AUTH)
        assert answer.status_code == 400, query
    assert _the_only_return(running)["status"] == "requested"


def test_the_platforms_refund_webhook_refunds_an_approved_return(shop):
    running = shop()
    _ask(running, **{f"qty_{MUG}": "1"})
    _api_post(running, f"{_the_only_return(running)['id']}/approve")
    # Shopify's refunds/create for the mug: the order is only partly refunded.
    assert running.post(shopify("refunds_create")).status_code == 202
    running.drain()
    one = running.client.get(f"/api/v1/returns/{_the_only_return(running)['id']}", headers=AUTH)
    assert one.json["status"] == "refunded"
    assert one.json["history"][-1]["actor"] == "platform"


def test_the_customer_hears_of_each_step_of_their_return_once(shop, smtp):
    running = shop()
    before = len(smtp.to("ada@example.com"))
    _ask(running, **{f"qty_{MUG}": "1"})
    return_id = _the_only_return(running)["id"]
    _api_post(running, f"{return_id}/approve")
    _api_post(running, f"{return_id}/tracking", {"tracking_number": "1Z999RT1", "carrier": "UPS"})
    _api_post(running, f"{return_id}/received")
    _api_post(running, f"{return_id}/refunded")
    _api_post(running, f"{return_id}/refunded")  # a second click changes nothing (409)
    running.drain()

    def told() -> list[str]:
        return sorted(m["Subject"] for m in smtp.to("ada@example.com")[before:])

    wait_for(lambda: len(told()) >= 4, timeout=20, what="four emails")
    running.drain()
    assert told() == sorted(
        [
            "We received your return request for order #1042",
            "Your return for order #1042 is approved",
            "Your returned items for order #1042 arrived",
            "Your return for order #1042 was refunded",
        ]
    ), "each step once, whichever worker thread sent it first"


def test_the_carriers_delivery_of_the_return_parcel_by_webhook_marks_it_received(shop, smtp):
    running = shop()
    _ask(running, **{f"qty_{POSTER}": "1"})
    return_id = _the_only_return(running)["id"]
    _api_post(running, f"{return_id}/approve")
    _api_post(
        running, f"{return_id}/tracking", {"tracking_number": "1Z 999 RT 42", "carrier": "UPS"}
    )
    event = json.loads(fixture_body("easypost", "tracker_updated__delivered"))
    event["id"] = "evt_return_parcel_delivered"
    event["result"].update(tracking_code="1Z999RT42", carrier="UPS")
    assert (
        running.post(easypost("tracker_updated__delivered", json.dumps(event).encode())).status_code
        == 202
    )
    running.drain()
    one = running.client.get(f"/api/v1/returns/{return_id}", headers=AUTH).json
    assert (one["status"], one["history"][-1]["actor"]) == ("received", "carrier")
    arrived = "Your returned items for order #1042 arrived"
    # Two worker threads send the return's emails, in either order: wait for this one.
    subjects = lambda: [m["Subject"] for m in smtp.to("ada@example.com")]  # noqa: E731
    wait_for(lambda: arrived in subjects(), timeout=20, what=arrived)
    assert subjects().count(arrived) == 1


def test_a_whole_order_refunded_on_the_platform_refunds_its_approved_return(shop):
    running = shop()
    _ask(running, **{f"qty_{MUG}": "1"})
    _api_post(running, f"{_the_only_return(running)['id']}/approve")
    refunded = json.loads(fixture_body("shopify", "orders_updated"))
    refunded.update(financial_status="refunded", updated_at="2026-11-20T10:00:00-05:00")
    webhook = shopify("orders_updated", json.dumps(refunded).encode(), webhook_id="refund-1")
    assert running.post(webhook).status_code == 202
    running.drain()
    assert _the_only_return(running)["status"] == "refunded"
