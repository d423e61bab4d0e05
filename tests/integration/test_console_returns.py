"""Staff handle returns in the console (issue 10): the list, and each step of a return's line
through the same use case as the API, the customer told of each step; a step the line does
not allow is refused and changes nothing. Both databases."""

from tests.integration.test_console import _staff, _token
from tests.integration.test_returns import AUTH, MUG, WIDE_OPEN, _ask
from tests.support.webhooks import ORDER_ID, STORY

CUSTOMER = "ada@example.com"


def _step(client, return_id: int, step: str, **form):
    data = {"csrf_token": _token(client, "/admin/returns"), "back": "/admin/returns"} | form
    return client.post(f"/admin/returns/{return_id}/{step}", data=data)


def _return(service) -> dict:
    (found,) = service.client.get("/api/v1/returns", headers=AUTH).json["returns"]
    return found


def test_staff_take_a_return_from_request_to_refund_and_the_customer_hears_each_step(start, smtp):
    service = start(RETURN_WINDOW_DAYS=WIDE_OPEN)
    for request in STORY:
        assert service.post(request).status_code == 202
    service.drain()
    assert _ask(service, **{f"qty_{MUG}": "1"}).status_code in (200, 303)
    service.drain()
    requested = _return(service)
    client = _staff(service)

    listed = client.get("/admin/returns?status=requested").get_data(as_text=True)
    assert f"#{requested['id']}" in listed and "Approve" in listed and "Reject" in listed

    answer = _step(client, requested["id"], "approve", note="Send it back in its box")
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/admin/returns")
    assert _return(service)["status"] == "approved"
    assert _return(service)["note"] == "Send it back in its box"
    refused = _step(client, requested["id"], "reject")
    assert refused.status_code == 303 and _return(service)["status"] == "approved"
    assert "it cannot become rejected" in client.get("/admin/returns").get_data(as_text=True)

    missing = _step(client, requested["id"], "tracking", tracking_number="", carrier="UPS")
    assert missing.status_code == 303 and _return(service)["status"] == "approved"
    _step(client, requested["id"], "tracking", tracking_number="1z 999 aa1", carrier="UPS")
    assert (_return(service)["status"], _return(service)["tracking_number"]) == (
        "in_transit",
        "1Z999AA1",
    )
    _step(client, requested["id"], "received")
    _step(client, requested["id"], "refunded")
    service.drain()
    assert _return(service)["status"] == "refunded"
    subjects = [m["Subject"] for m in smtp.to(CUSTOMER)]
    for told in ("is approved", "returned items", "was refunded"):
        assert any(told in subject for subject in subjects), (told, subjects)

    page = client.get(f"/admin/orders/shopify/{ORDER_ID}").get_data(as_text=True)
    assert "refunded" in page and "Approve" not in page, "a refunded return has no next step"


def test_a_return_step_needs_the_csrf_token_and_a_signed_in_account(start):
    service = start(RETURN_WINDOW_DAYS=WIDE_OPEN)
    anonymous = service.app.test_client()
    assert anonymous.post("/admin/returns/1/approve").status_code in (400, 302, 303)
    client = _staff(service)
    assert client.post("/admin/returns/1/approve", data={}).status_code == 400
    assert _step(client, 999999, "approve").status_code == 404
    assert _step(client, 1, "teleport").status_code == 404
