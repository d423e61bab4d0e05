"""Rules that hold across sources (issue 3), through the whole service on both databases:
a shipment is found by carrier and tracking number, a number reused months later does not
merge two orders, a replaced number moves the shipment and tells the customer, and when the
platform and the carrier report the same parcel the newer, more specific report wins with both
in the history."""

import json
from collections.abc import Callable

from tests.support.webhooks import ORDER_ID, Request, easypost, fixture_body, request_for, shopify

CUSTOMER = "ada@example.com"
USPS_NUMBER = "9400111899223344556677"
NEW_NUMBER = "9400111899223344559999"
#: Another order, five months later, to which USPS gives the same tracking number again.
LATER_ORDER_ID = "5531234568000"


def _edited(source: str, name: str, change: Callable[[dict], None]) -> bytes:
    payload = json.loads(fixture_body(source, name))
    change(payload)
    return json.dumps(payload).encode()


def _carrier_event(
    name: str, event_id: str, *, at: str | None = None, number: str = USPS_NUMBER, carrier="USPS"
) -> Request:
    """An EasyPost event of fixture `name`, as a new delivery, for `number` at time `at`."""

    def change(event: dict) -> None:
        event["id"] = event_id
        tracker = event["result"]
        tracker["tracking_code"], tracker["carrier"] = number, carrier
        if at:
            newest = tracker["tracking_details"][-1]
            tracker["tracking_details"] = [newest | {"datetime": at}]

    return easypost(name, _edited("easypost", name, change))


def _later_order() -> list[Request]:
    """Order #1099, placed and fulfilled on 2027-04-01 with the reused USPS number."""

    def order(payload: dict) -> None:
        payload.update(id=int(LATER_ORDER_ID), name="#1099", email="grace@example.com")
        payload.update(
            created_at="2027-04-01T09:00:00-04:00", updated_at="2027-04-01T09:00:00-04:00"
        )

    def fulfillment(payload: dict) -> None:
        payload.update(id=4451234568000, order_id=int(LATER_ORDER_ID), name="#1099.1")
        payload.update(
            created_at="2027-04-01T10:00:00-04:00", updated_at="2027-04-01T10:00:00-04:00"
        )

    return [
        shopify("orders_create", _edited("shopify", "orders_create", order), webhook_id="o-1099"),
        shopify(
            "fulfillments_create",
            _edited("shopify", "fulfillments_create", fulfillment),
            webhook_id="f-1099",
        ),
    ]


def _post(service, *requests: Request) -> None:
    for request in requests:
        response = service.post(request)
        assert response.status_code in (200, 202), (request.name, response.json)
    service.drain()


def _parcel(service, order_id: str = ORDER_ID) -> dict:
    (parcel,) = service.order(order_id)["shipments"]
    return parcel


def test_a_tracking_number_reused_months_later_does_not_merge_two_orders(service):
    _post(
        service,
        shopify("orders_create"),
        shopify("fulfillments_create"),
        _carrier_event("tracker_updated__delivered", "evt_first_life_delivered"),
    )
    assert _parcel(service)["status"] == "delivered"

    # USPS scans the reused number before the second shop has said it shipped: no order has
    # the number at that time (the first one's life ended), so the event waits.
    early = _carrier_event(
        "tracker_updated__in_transit", "evt_second_life_early", at="2027-03-31T20:00:00Z"
    )
    _post(service, early)
    assert _parcel(service)["status"] == "delivered"

    _post(service, *_later_order())
    assert _parcel(service, LATER_ORDER_ID)["status"] == "in_transit", "released on fulfillment"
    _post(
        service,
        _carrier_event(
            "tracker_updated__out_for_delivery", "evt_second_life_ofd", at="2027-04-02T08:00:00Z"
        ),
        # A straggler from the first parcel's life still belongs to the first order.
        _carrier_event(
            "tracker_updated__out_for_delivery", "evt_first_life_late", at="2026-11-04T07:30:00Z"
        ),
    )

    first, later = service.order(ORDER_ID), service.order(LATER_ORDER_ID)
    assert first["shipments"][0]["status"] == "delivered", "the late scan is older: kept only"
    assert later["status"] == "out_for_delivery"
    first_events = {e["source_event"]["delivery_id"] for e in first["history"]}
    later_events = {e["source_event"]["delivery_id"] for e in later["history"]}
    assert "evt_first_life_late" in first_events
    assert {"evt_second_life_early", "evt_second_life_ofd"} <= later_events
    assert not first_events & later_events


def test_a_carrier_event_from_another_carrier_with_the_same_number_is_not_applied(service):
    _post(service, shopify("orders_create"), shopify("fulfillments_create"))
    _post(service, _carrier_event("tracker_updated__delivered", "evt_fedex", carrier="FedEx"))
    assert _parcel(service)["status"] == "label_created"
    _post(service, _carrier_event("tracker_updated__delivered", "evt_usps", carrier="usps"))
    assert _parcel(service)["status"] == "delivered", "the same carrier, spelt another way"


def _replaced(number: str = NEW_NUMBER) -> Request:
    def change(payload: dict) -> None:
        payload.update(tracking_number=number, tracking_numbers=[number])
        payload.update(tracking_url=None, tracking_urls=[], shipment_status=None)
        payload["updated_at"] = "2026-11-03T10:00:00-05:00"

    body = _edited("shopify", "fulfillments_update", change)
    return shopify("fulfillments_update", body, webhook_id=f"replaced-{number}")


def test_a_replaced_tracking_number_moves_the_shipment_and_tells_the_customer(service, smtp):
    _post(
        service,
        shopify("orders_create"),
        shopify("fulfillments_create"),
        _carrier_event("tracker_updated__in_transit", "evt_old_in_transit"),
    )
    assert [m["Subject"] for m in smtp.to(CUSTOMER)] == [
        "Your order #1042 has shipped (parcel 1, more to follow)"
    ]

    _post(service, _replaced())
    parcel = _parcel(service)
    assert parcel["tracking_number"] == NEW_NUMBER
    assert parcel["status"] == "label_created", "the old number's scans are not this parcel's"
    told = smtp.to(CUSTOMER)[-1]
    assert told["Subject"] == "New tracking number for order #1042"
    assert NEW_NUMBER in told.get_body(("plain",)).get_content()

    # The old number is no longer this order's; the new one is.
    _post(
        service,
        _carrier_event(
            "tracker_updated__delivered", "evt_old_delivered", at="2026-11-04T15:12:00Z"
        ),
        _carrier_event(
            "tracker_updated__out_for_delivery",
            "evt_new_ofd",
            number=NEW_NUMBER,
            at="2026-11-04T07:30:00Z",
        ),
    )
    assert _parcel(service)["status"] == "out_for_delivery"
    # The same replacement delivered again tells nobody twice.
    _post(service, _replaced())
    subjects = [m["Subject"] for m in smtp.to(CUSTOMER)]
    assert subjects.count("New tracking number for order #1042") == 1


def test_platform_and_carrier_reports_of_one_parcel_merge_newest_first_with_both_in_history(
    service,
):
    _post(service, shopify("orders_create"), shopify("fulfillments_create"))
    _post(
        service,
        easypost("tracker_updated__delivered"),  # 15:12, the carrier's word
        shopify("fulfillment_events_create"),  # 07:30, the platform's, arriving late
        easypost("tracker_updated__out_for_delivery"),  # 07:30, the carrier's, also late
    )
    order = service.order(ORDER_ID)
    assert order["shipments"][0]["status"] == "delivered", "an older report never moves it back"
    tracking = [e for e in order["history"] if e["kind"] == "tracking"]
    assert {e["source_event"]["source"] for e in tracking} == {"shopify", "easypost"}
    assert {e["shipment"] for e in tracking} == {"f:4451234567890"}, "one parcel, both sources"

    # The platform then says it was delivered, at the same minute as the carrier: one state.
    _post(service, shopify("fulfillment_events_create__delivered"))
    again = service.order(ORDER_ID)
    assert again["shipments"][0]["status"] == "delivered"
    assert again["status"] == order["status"], "the same news from the platform moves nothing"
    assert len(again["history"]) == len(order["history"]) + 1


def test_a_woocommerce_tracking_item_deleted_and_added_again_is_a_replaced_number(service, smtp):
    """The Shipment Tracking plugin cannot edit a number: a correction deletes the item and
    adds another, with a new id, in one order update."""

    def corrected(order: dict) -> None:
        (meta,) = [m for m in order["meta_data"] if m["key"] == "_wc_shipment_tracking_items"]
        meta["value"] = [
            meta["value"][0] | {"tracking_number": "9400111899223300002999", "tracking_id": "b2"}
        ]
        order["date_modified_gmt"] = "2026-11-10T16:00:00"

    body = _edited("woocommerce", "order_updated__completed", corrected)
    _post(
        service,
        request_for("woocommerce", "order_created"),
        request_for("woocommerce", "order_updated__completed"),
    )
    _post(service, request_for("woocommerce", "order_updated__completed", body))

    order = service.order("2001", platform="woocommerce")
    parcels = {s["tracking_number"]: s["removed"] for s in order["shipments"]}
    assert parcels == {"9400111899223300002001": True, "9400111899223300002999": False}
    assert order["progress"] is None, "one parcel, not '0 of 2 delivered'"
    told = smtp.to(CUSTOMER)[-1]
    assert told["Subject"] == "New tracking number for order #2001"
    assert "9400111899223300002999" in told.get_body(("plain",)).get_content()
