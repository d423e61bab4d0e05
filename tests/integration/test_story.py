"""The whole path, webhook to email, on the in-process broker and both databases."""

import random

from tests.support.webhooks import ORDER_ID, STORY, easypost, shopify

CUSTOMER = "ada@example.com"


def _post_all(service, requests) -> None:
    for request in requests:
        response = service.post(request)
        assert response.status_code in (200, 202), (request.name, response.json)
    service.drain()


def _kinds_emailed(smtp) -> list[str]:
    return sorted(m["Subject"] for m in smtp.to(CUSTOMER))


def test_story_in_order_ends_delivered_with_one_email_per_parcel_and_status(service, smtp):
    for request in STORY:  # each event handled before the next arrives, as in real life
        _post_all(service, [request])
    order = service.order(ORDER_ID)
    assert order["status"] == "delivered"
    assert order["progress"] == "2 of 2 delivered"
    assert [s["status"] for s in order["shipments"]] == ["delivered", "delivered"]
    sent = [(n["parcel"], n["kind"]) for n in order["notifications"] if n["status"] == "sent"]
    first, second = [f"f:{s['fulfillment_id']}" for s in order["shipments"]]
    assert sent == [
        (first, "shipped"),
        (second, "shipped"),
        (first, "out_for_delivery"),
        (first, "delivered"),
        (second, "out_for_delivery"),
        (second, "delivered"),
    ]
    subjects = [m["Subject"] for m in smtp.to(CUSTOMER)]
    assert subjects == [
        "Your order #1042 has shipped (parcel 1, more to follow)",
        "Your order #1042 has shipped (parcel 2 of 2)",
        "Your order #1042 is out for delivery (parcel 1 of 2)",
        "Your order #1042 was delivered (parcel 1 of 2)",
        "Your order #1042 is out for delivery (parcel 2 of 2)",
        "Your order #1042 was delivered (parcel 2 of 2)",
    ]
    last = smtp.to(CUSTOMER)[-1].get_body(("plain",)).get_content()
    assert "2 of 2 delivered" in last and "1Z999AA10123456784" in last
    assert "9400111899223344556677" not in last, "a parcel's news shows that parcel"


def test_story_shuffled_with_duplicates_converges_and_never_sends_stale_news(service, smtp):
    story = STORY + random.Random(7).sample(STORY, 4)
    random.Random(42).shuffle(story)
    _post_all(service, story)
    order = service.order(ORDER_ID)
    assert order["status"] == "delivered"
    assert order["progress"] == "2 of 2 delivered"
    subjects = _kinds_emailed(smtp)
    assert len(subjects) == len(set(subjects)), "one email per parcel and status at most"
    delivered = [s for s in subjects if "was delivered" in s]
    assert len(delivered) == 2, "each parcel's last news always goes out"


def test_one_of_two_parcels_delivered_reads_as_such(service):
    _post_all(
        service,
        [
            shopify("orders_create"),
            shopify("fulfillments_create"),
            shopify("fulfillments_create__second_parcel"),
            easypost("tracker_updated__delivered"),
            easypost("tracker_updated__parcel2_in_transit"),
        ],
    )
    order = service.order(ORDER_ID)
    assert order["progress"] == "1 of 2 delivered"
    assert order["status"] == "in_transit"


def test_carrier_event_before_fulfillment_is_parked_then_applied(service):
    _post_all(service, [shopify("orders_create"), easypost("tracker_updated__out_for_delivery")])
    assert service.order(ORDER_ID)["shipments"] == []
    _post_all(service, [shopify("fulfillments_create")])
    order = service.order(ORDER_ID)
    assert order["shipments"][0]["status"] == "out_for_delivery"
    assert order["status"] == "out_for_delivery"
    sources = {entry["source_event"]["source"] for entry in order["history"]}
    assert sources == {"shopify", "easypost"}


def test_shipment_api_finds_the_order_by_carrier_and_tracking_number(service):
    _post_all(service, [*STORY[:3], easypost("tracker_updated__in_transit")])
    response = service.api("/api/v1/shipments/usps/9400111899223344556677")
    assert response.status_code == 200
    assert response.json["status"] == "in_transit"
    assert response.json["order"]["external_id"] == ORDER_ID


def test_a_parcel_delivered_before_the_rest_shipped_is_not_a_delivered_order(service, smtp):
    _post_all(
        service,
        [
            shopify("orders_create"),
            shopify("fulfillments_create__second_parcel"),
            easypost("tracker_updated__parcel2_in_transit"),
            easypost("tracker_updated__parcel2_delivered"),
        ],
    )
    order = service.order(ORDER_ID)
    assert order["status"] == "shipped"
    assert order["progress"] == "1 of 1 delivered, 1 item not shipped yet"
    (early,) = [m for m in smtp.to(CUSTOMER) if "delivered" in m["Subject"]]
    assert early["Subject"] == "Your order #1042 was delivered (parcel 1, more to follow)"
    assert "1 item not shipped yet" in early.get_body(("plain",)).get_content()

    _post_all(
        service,
        [
            shopify("fulfillments_create"),
            easypost("tracker_updated__in_transit"),
            easypost("tracker_updated__delivered"),
        ],
    )
    order = service.order(ORDER_ID)
    assert order["status"] == "delivered"
    delivered_emails = [m for m in smtp.to(CUSTOMER) if "delivered" in m["Subject"]]
    assert len(delivered_emails) == 2, "one per parcel"
    assert "2 of 2 delivered" in delivered_emails[1].get_body(("plain",)).get_content()
