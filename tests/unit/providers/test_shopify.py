"""Shopify provider, pure: every fixture through `check_webhook` (verify -> envelope ->
normalize), every documented status code against a table written from the documentation, and
the ways a delivery is refused. No database, no app."""

import json
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from ordertrack.errors import BadSignature, MissingFields, UnknownTopic
from ordertrack.facts import (
    Customer,
    FulfillmentFact,
    LineItem,
    OrderFact,
    RefundFact,
    ShipmentRef,
    TrackingFact,
)
from ordertrack.providers.shopify import tables as shopify_tables
from ordertrack.statuses import OrderStatus, ShipmentStatus
from tests.support import check_webhook as webhook
from tests.support.check_webhook import check_webhook, edited, envelope_of, facts_of, only_fact, utc
from tests.support.sources.shopify import SECRET, signature
from tests.support.webhooks import FIXTURES, ORDER_ID, fixture_names

# --- Documentation tables (shopify.dev enums; sources in tests/fixtures/README.md). Written from
# the documented meaning of each code, not from ordertrack's own table.

#: Fulfillment `shipment_status` / FulfillmentEvent `status` (FulfillmentEventStatus, REST case).
DOCUMENTED_SHIPMENT_STATUSES = {
    "label_printed": ShipmentStatus.LABEL_CREATED,  # a purchased label has been printed
    "label_purchased": ShipmentStatus.LABEL_CREATED,  # a label has been purchased
    "confirmed": ShipmentStatus.LABEL_CREATED,  # the default: fulfilled, nothing scanned yet
    "carrier_picked_up": ShipmentStatus.IN_TRANSIT,  # the carrier has collected it
    "in_transit": ShipmentStatus.IN_TRANSIT,
    "out_for_delivery": ShipmentStatus.OUT_FOR_DELIVERY,
    "attempted_delivery": ShipmentStatus.DELIVERY_FAILED,  # a delivery was attempted
    "ready_for_pickup": ShipmentStatus.AVAILABLE_FOR_PICKUP,
    "picked_up": ShipmentStatus.DELIVERED,  # the customer collected it
    "delayed": ShipmentStatus.EXCEPTION,  # DESIGN: exception = carrier exception or delay
    "delivered": ShipmentStatus.DELIVERED,
    "failure": ShipmentStatus.EXCEPTION,  # the fulfillment failed: needs attention
}

#: Order `financial_status` (OrderDisplayFinancialStatus, REST case). Only the codes whose
#: documented meaning fixes the canonical status are pinned; every code must be in the table.
DOCUMENTED_FINANCIAL_STATUSES = (
    "pending",
    "authorized",
    "partially_paid",
    "paid",
    "partially_refunded",
    "refunded",
    "voided",
    "expired",
)
FINANCIAL_STATUS_MEANING = {
    "pending": OrderStatus.RECEIVED,  # payment not there yet
    "authorized": OrderStatus.PROCESSING,  # payment secured, merchant can ship
    "paid": OrderStatus.PROCESSING,
    "refunded": OrderStatus.REFUNDED,
}

# --- The story (tests/fixtures/README.md)

ORDER_1043 = "5531234567999"
PARCEL_1_ID, PARCEL_2_ID = "4451234567890", "4451234567891"
ADA = Customer(
    email="ada@example.com",
    phone="+15555550142",
    name="Ada Lovelace",
    locale="en-US",
    country_code="US",
    province_code="NY",
    postcode="10001",
)
ITEMS_1042 = (
    LineItem("13001234567890", "Analytical Engine Poster", 1),
    LineItem("13001234567891", "Difference Engine Mug", 2),
)
USPS_URL = "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400111899223344556677"
UPS_URL = "https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums=1Z999AA10123456784"
PARCEL_1 = ShipmentRef(platform="shopify", order_id=ORDER_ID, fulfillment_id=PARCEL_1_ID)


FULFILLMENT_1 = FulfillmentFact(
    platform="shopify",
    order_id=ORDER_ID,
    fulfillment_id=PARCEL_1_ID,
    occurred_at=utc(2, 14),
    carrier="USPS",
    tracking_number="9400111899223344556677",
    tracking_url=USPS_URL,
    items=ITEMS_1042[:1],  # the poster travels in parcel 1
)
FULFILLMENT_2 = FulfillmentFact(
    platform="shopify",
    order_id=ORDER_ID,
    fulfillment_id=PARCEL_2_ID,
    occurred_at=utc(2, 14, 30),
    carrier="UPS",
    tracking_number="1Z999AA10123456784",
    tracking_url=UPS_URL,
    items=ITEMS_1042[1:],  # the two mugs in parcel 2
)


def order_1042(occurred_at: datetime, status: OrderStatus) -> OrderFact:
    return OrderFact(
        platform="shopify",
        order_id=ORDER_ID,
        occurred_at=occurred_at,
        status=status,
        name="#1042",
        customer=ADA,
        items=ITEMS_1042,
    )


def webhook_id(name: str) -> str:
    return json.loads((FIXTURES / "shopify" / "topics.json").read_text())[name]["webhook_id"]


# --- One test per fixture


def test_orders_create_is_order_1042_received_at_0900_with_ada_and_two_items():
    expected = [order_1042(utc(2, 9), OrderStatus.RECEIVED)]
    check_webhook("shopify", "orders_create", expected, topic="orders/create")


def test_orders_paid_moves_order_1042_to_processing_at_0901():
    expected = [order_1042(utc(2, 9, 1), OrderStatus.PROCESSING)]
    check_webhook("shopify", "orders_paid", expected, topic="orders/paid")


def test_orders_cancelled_cancels_order_1043_at_its_cancelled_at_1015():
    expected = [
        OrderFact(
            platform="shopify",
            order_id=ORDER_1043,
            occurred_at=utc(2, 10, 15),
            status=OrderStatus.CANCELLED,
            name="#1043",
            customer=ADA,
            items=(LineItem("13001234567999", "Difference Engine Mug", 1),),
        )
    ]
    check_webhook("shopify", "orders_cancelled", expected, topic="orders/cancelled")


def test_fulfillments_create_is_parcel_1_by_usps_at_1400_without_a_tracking_status():
    check_webhook("shopify", "fulfillments_create", [FULFILLMENT_1], topic="fulfillments/create")


def test_orders_partially_fulfilled_names_parcel_1_only():
    expected = [order_1042(utc(2, 14, 0, 1), OrderStatus.PROCESSING), FULFILLMENT_1]
    check_webhook(
        "shopify", "orders_partially_fulfilled", expected, topic="orders/partially_fulfilled"
    )


def test_fulfillments_create_second_parcel_is_parcel_2_by_ups_at_1430():
    check_webhook(
        "shopify",
        "fulfillments_create__second_parcel",
        [FULFILLMENT_2],
        topic="fulfillments/create",
    )


def test_orders_fulfilled_names_both_parcels():
    expected = [
        order_1042(utc(2, 14, 30, 1), OrderStatus.PROCESSING),
        FULFILLMENT_1,
        FULFILLMENT_2,
    ]
    check_webhook("shopify", "orders_fulfilled", expected, topic="orders/fulfilled")


def test_fulfillments_update_reports_parcel_1_in_transit_at_0805():
    expected = [
        replace(FULFILLMENT_1, occurred_at=utc(3, 8, 5)),  # updated_at: the newer report
        TrackingFact(
            shipment=PARCEL_1,
            status=ShipmentStatus.IN_TRANSIT,
            occurred_at=utc(3, 8, 5),
            raw_status="in_transit",
            carrier="USPS",
        ),
    ]
    check_webhook("shopify", "fulfillments_update", expected, topic="fulfillments/update")


def test_orders_updated_carries_both_parcels_with_parcel_1_in_transit_at_0805():
    expected = [
        order_1042(utc(3, 8, 5), OrderStatus.PROCESSING),
        replace(FULFILLMENT_1, occurred_at=utc(3, 8, 5)),  # updated_at: the newer report
        TrackingFact(
            shipment=PARCEL_1,
            status=ShipmentStatus.IN_TRANSIT,
            occurred_at=utc(3, 8, 5),
            raw_status="in_transit",
            carrier="USPS",
        ),
        FULFILLMENT_2,
    ]
    check_webhook("shopify", "orders_updated", expected, topic="orders/updated")


def test_fulfillment_events_create_reports_parcel_1_out_for_delivery_at_0730():
    expected = TrackingFact(
        shipment=PARCEL_1,
        status=ShipmentStatus.OUT_FOR_DELIVERY,
        occurred_at=utc(4, 7, 30),
        raw_status="out_for_delivery",
        message="Out for Delivery, Expected Delivery by 9:00pm",
        est_delivery=date(2026, 11, 4),  # why the 4th: its own test below
    )
    check_webhook(
        "shopify", "fulfillment_events_create", [expected], topic="fulfillment_events/create"
    )


def test_fulfillment_events_create_delivered_reports_parcel_1_delivered_at_1512():
    expected = TrackingFact(
        shipment=PARCEL_1,
        status=ShipmentStatus.DELIVERED,
        occurred_at=utc(4, 15, 12),
        raw_status="delivered",
        message="Delivered, In/At Mailbox",
        est_delivery=date(2026, 11, 4),  # why the 4th: its own test below
    )
    check_webhook(
        "shopify",
        "fulfillment_events_create__delivered",
        [expected],
        topic="fulfillment_events/create",
    )


@pytest.mark.parametrize(
    "name", ["fulfillment_events_create", "fulfillment_events_create__delivered"]
)
def test_fulfillment_event_estimated_delivery_is_the_shops_date_not_the_utc_date(name):
    # estimated_delivery_at is 2026-11-04T21:00:00-05:00: the customer expects it on the 4th
    # (EasyPost says 2026-11-04 for the same parcel), although it is already the 5th in UTC.
    assert only_fact("shopify", name).est_delivery == date(2026, 11, 4)


def test_customers_create_is_a_real_topic_ordertrack_keeps_as_ignored():
    check_webhook("shopify", "customers_create", [], topic="customers/create", handled=False)


def test_refunds_create_is_a_refund_of_the_mug_at_1500_that_moves_no_order_status():
    expected = RefundFact(
        platform="shopify",
        order_id=ORDER_ID,
        occurred_at=datetime(2026, 11, 20, 15, 0, tzinfo=UTC),
        items=(LineItem("13001234567891", "", 1),),
    )
    check_webhook("shopify", "refunds_create", [expected], topic="refunds/create")


@pytest.mark.parametrize("name", fixture_names("shopify"))
def test_each_delivery_is_deduplicated_by_its_x_shopify_webhook_id(name):
    assert envelope_of("shopify", name).dedupe_key == webhook_id(name)


# --- Every documented code


def test_every_documented_shipment_status_is_in_the_providers_table():
    assert set(DOCUMENTED_SHIPMENT_STATUSES) <= set(shopify_tables.SHIPMENT_STATUSES)


def test_every_documented_financial_status_is_in_the_providers_table():
    assert set(DOCUMENTED_FINANCIAL_STATUSES) <= set(shopify_tables.FINANCIAL_STATUSES)


def _with_event_status(code: str) -> bytes:
    return edited("shopify", "fulfillment_events_create", status=code)


def _with_shipment_status(code: str) -> bytes:
    return edited("shopify", "fulfillments_update", shipment_status=code)


def _with_financial_status(code: str) -> bytes:
    return edited("shopify", "orders_create", financial_status=code)


def _tracking(name: str, body: bytes) -> TrackingFact:
    (tracking,) = [f for f in facts_of("shopify", name, body) if isinstance(f, TrackingFact)]
    return tracking


@pytest.mark.parametrize(("code", "expected"), DOCUMENTED_SHIPMENT_STATUSES.items())
def test_fulfillment_event_status_maps_to_its_documented_meaning(code, expected):
    fact = only_fact("shopify", "fulfillment_events_create", _with_event_status(code))
    assert (fact.status, fact.raw_status) == (expected, code)


@pytest.mark.parametrize(("code", "expected"), DOCUMENTED_SHIPMENT_STATUSES.items())
def test_fulfillment_shipment_status_maps_to_its_documented_meaning(code, expected):
    tracking = _tracking("fulfillments_update", _with_shipment_status(code))
    assert (tracking.status, tracking.raw_status) == (expected, code)


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("fulfillment_events_create", _with_event_status),
        ("fulfillments_update", _with_shipment_status),
    ],
)
def test_an_undocumented_shipment_status_is_unknown_with_its_raw_code_never_in_transit(name, build):
    tracking = _tracking(name, build("teleported"))
    assert (tracking.status, tracking.raw_status) == (ShipmentStatus.UNKNOWN, "teleported")


@pytest.mark.parametrize(("code", "expected"), FINANCIAL_STATUS_MEANING.items())
def test_financial_status_moves_the_order_to_its_documented_meaning(code, expected):
    order = only_fact("shopify", "orders_create", _with_financial_status(code))
    assert order.status is expected


def test_a_partial_refund_leaves_the_order_where_it_is():
    order = only_fact("shopify", "orders_create", _with_financial_status("partially_refunded"))
    assert (order.status, order.unknown_status) == (None, None)


def test_an_undocumented_financial_status_is_kept_as_unknown_and_never_applied():
    order = only_fact("shopify", "orders_create", _with_financial_status("teleported"))
    assert (order.status, order.unknown_status) == (None, "teleported")


@pytest.mark.parametrize("code", ["voided", "expired"])
def test_a_payment_that_fell_through_never_reads_as_progress(code):
    order = only_fact("shopify", "orders_create", _with_financial_status(code))
    assert order.status not in (OrderStatus.RECEIVED, OrderStatus.PROCESSING, None)


def test_a_cancelled_at_cancels_the_order_whatever_the_topic():
    body = edited("shopify", "orders_updated", cancelled_at="2026-11-03T05:00:00-05:00")
    order = facts_of("shopify", "orders_updated", body)[0]
    assert (order.status, order.occurred_at) == (OrderStatus.CANCELLED, utc(3, 10))


@pytest.mark.parametrize("status", ["cancelled", "error", "failure"])
def test_a_fulfillment_that_did_not_happen_is_a_cancelled_shipment(status):
    body = edited("shopify", "fulfillments_create", status=status)
    assert facts_of("shopify", "fulfillments_create", body) == [
        replace(FULFILLMENT_1, cancelled=True)
    ]


def test_tracking_number_is_normalized_without_spaces_in_upper_case():
    name = "fulfillments_create__second_parcel"
    body = edited("shopify", name, tracking_number=" 1z999aa1 0123456784 ")
    assert only_fact("shopify", name, body).tracking_number == "1Z999AA10123456784"


@pytest.mark.parametrize(
    ("consent", "expected"),
    [
        ({"state": "subscribed", "opt_in_level": "single_opt_in"}, True),
        ({"state": "not_subscribed", "opt_in_level": "single_opt_in"}, False),
        ({"state": "unsubscribed", "opt_in_level": None}, False),
        (None, None),
    ],
    ids=["subscribed", "not subscribed", "unsubscribed", "never asked"],
)
def test_sms_consent_is_what_shopify_reports_for_the_customer(consent, expected):
    body = edited(
        "shopify", "orders_create", lambda p: p["customer"].update(sms_marketing_consent=consent)
    )
    assert only_fact("shopify", "orders_create", body).customer.sms_consent is expected


# --- Refusals


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda r: webhook.with_headers(
                r, {"X-Shopify-Hmac-Sha256": signature(r.body, "other")}
            ),
            id="signed with another secret",
        ),
        pytest.param(lambda r: replace(r, body=r.body + b" "), id="body changed after signing"),
        pytest.param(
            lambda r: webhook.with_headers(r, {"X-Shopify-Hmac-Sha256": None}), id="unsigned"
        ),
    ],
)
def test_a_delivery_not_signed_with_the_secret_is_refused(tamper):
    with pytest.raises(BadSignature):
        webhook.accept("shopify", tamper(webhook.signed("shopify", "orders_create")))


def test_a_rotated_secret_still_verifies_while_both_are_configured():
    rotated = webhook.credentials("shopify", secrets=("new", SECRET))
    expected = [order_1042(utc(2, 9), OrderStatus.RECEIVED)]
    check_webhook("shopify", "orders_create", expected, topic="orders/create", configured=rotated)


@pytest.mark.parametrize("topic", ["orders/teleported", ""], ids=["unknown", "empty"])
def test_a_topic_shopify_never_sends_is_unknown(topic):
    odd = webhook.with_headers(
        webhook.signed("shopify", "orders_create"), {"X-Shopify-Topic": topic}
    )
    with pytest.raises(UnknownTopic):
        webhook.accept("shopify", odd)


def test_a_delivery_without_webhook_id_cannot_be_deduplicated_and_is_refused():
    request = webhook.with_headers(
        webhook.signed("shopify", "orders_create"), {"X-Shopify-Webhook-Id": None}
    )
    with pytest.raises(MissingFields, match="X-Shopify-Webhook-Id"):
        webhook.accept("shopify", request)


#: A field each handled topic must carry, by fixture.
REQUIRED_FIELDS = [
    ("fulfillment_events_create", "happened_at"),
    ("fulfillment_events_create", "fulfillment_id"),
    ("fulfillment_events_create", "status"),
    ("fulfillments_create", "order_id"),
    ("orders_create", "id"),
    ("orders_create", "created_at"),
]


@pytest.mark.parametrize(("name", "field"), REQUIRED_FIELDS)
def test_a_handled_topic_missing_a_required_field_is_refused_at_the_edge_naming_it(name, field):
    body = edited("shopify", name, lambda p: p.pop(field))
    with pytest.raises(MissingFields) as refused:
        envelope_of("shopify", name, body)
    assert field in refused.value.details


@pytest.mark.parametrize(("name", "field"), REQUIRED_FIELDS)
def test_a_stored_payload_missing_a_required_field_is_refused_by_the_worker(name, field):
    body = edited("shopify", name, lambda p: p.pop(field))
    topic = webhook.signed("shopify", name).headers["X-Shopify-Topic"]
    with pytest.raises(MissingFields) as refused:
        webhook.normalized("shopify", topic, json.loads(body))
    assert field in refused.value.details


def test_a_timestamp_that_is_no_time_names_the_field():
    body = edited("shopify", "fulfillment_events_create", happened_at="yesterday")
    with pytest.raises(MissingFields) as refused:
        webhook.normalized("shopify", "fulfillment_events/create", json.loads(body))
    assert "happened_at" in refused.value.details
