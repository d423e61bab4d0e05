"""Shopify provider, pure: every fixture through one helper (verify -> envelope -> normalize),
every documented status code against a table written from the documentation, and the ways a
delivery is refused. No database, no app."""

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from werkzeug.datastructures import Headers

from ordertrack.errors import BadSignature, MissingFields, UnknownTopic
from ordertrack.facts import (
    Customer,
    Fact,
    FulfillmentFact,
    LineItem,
    OrderFact,
    RefundFact,
    ShipmentRef,
    TrackingFact,
)
from ordertrack.providers import shopify
from ordertrack.providers.base import Credentials, Delivery, Envelope
from ordertrack.statuses import OrderStatus, ShipmentStatus
from tests.support.webhooks import (
    FIXTURES,
    ORDER_ID,
    SECRETS,
    Request,
    fixture_body,
    shopify_signature,
)
from tests.support.webhooks import shopify as shopify_request

#: When ordertrack received a delivery: only a last resort for payloads without a time.
RECEIVED_AT = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)

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


def utc(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


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


# --- The one helper


def webhook_id(name: str) -> str:
    return json.loads((FIXTURES / "shopify" / "topics.json").read_text())[name]["webhook_id"]


def edited(name: str, edit: Callable[[dict], None]) -> bytes:
    """The fixture's JSON with one change, serialized as Shopify would send it."""
    payload = json.loads(fixture_body("shopify", name))
    edit(payload)
    return json.dumps(payload).encode()


def delivery(request: Request) -> Delivery:
    return Delivery(body=request.body, headers=Headers(request.headers), query={})


def receive(name: str, body: bytes | None = None) -> tuple[Envelope, list[Fact]]:
    """What the receiver and the worker do with one delivery, in order; every fact's time
    must come out as aware UTC."""
    request = shopify_request(name, body)
    shopify.verify(delivery(request), Credentials(secrets=(SECRETS["shopify"],)))
    payload = json.loads(request.body)
    envelope = shopify.envelope(delivery(request), payload)
    facts = shopify.normalize(envelope.topic, payload, RECEIVED_AT) if envelope.handled else []
    for fact in facts:
        assert fact.occurred_at.utcoffset() == timedelta(0), fact
    return envelope, facts


def handled(name: str, topic: str) -> Envelope:
    return Envelope(topic=topic, dedupe_key=webhook_id(name), handled=True)


# --- One test per fixture


def test_orders_create_is_order_1042_received_at_0900_with_ada_and_two_items():
    envelope, facts = receive("orders_create")
    assert envelope == handled("orders_create", "orders/create")
    assert facts == [order_1042(utc(2, 9), OrderStatus.RECEIVED)]


def test_orders_paid_moves_order_1042_to_processing_at_0901():
    envelope, facts = receive("orders_paid")
    assert envelope == handled("orders_paid", "orders/paid")
    assert facts == [order_1042(utc(2, 9, 1), OrderStatus.PROCESSING)]


def test_orders_cancelled_cancels_order_1043_at_its_cancelled_at_1015():
    envelope, facts = receive("orders_cancelled")
    assert envelope == handled("orders_cancelled", "orders/cancelled")
    assert facts == [
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


def test_fulfillments_create_is_parcel_1_by_usps_at_1400_without_a_tracking_status():
    envelope, facts = receive("fulfillments_create")
    assert envelope == handled("fulfillments_create", "fulfillments/create")
    assert facts == [FULFILLMENT_1]


def test_orders_partially_fulfilled_names_parcel_1_only():
    envelope, facts = receive("orders_partially_fulfilled")
    assert envelope == handled("orders_partially_fulfilled", "orders/partially_fulfilled")
    assert facts == [order_1042(utc(2, 14, 0, 1), OrderStatus.PROCESSING), FULFILLMENT_1]


def test_fulfillments_create_second_parcel_is_parcel_2_by_ups_at_1430():
    envelope, facts = receive("fulfillments_create__second_parcel")
    assert envelope == handled("fulfillments_create__second_parcel", "fulfillments/create")
    assert facts == [FULFILLMENT_2]


def test_orders_fulfilled_names_both_parcels():
    envelope, facts = receive("orders_fulfilled")
    assert envelope == handled("orders_fulfilled", "orders/fulfilled")
    assert facts == [
        order_1042(utc(2, 14, 30, 1), OrderStatus.PROCESSING),
        FULFILLMENT_1,
        FULFILLMENT_2,
    ]


def test_fulfillments_update_reports_parcel_1_in_transit_at_0805():
    envelope, facts = receive("fulfillments_update")
    assert envelope == handled("fulfillments_update", "fulfillments/update")
    assert facts == [
        replace(FULFILLMENT_1, occurred_at=utc(3, 8, 5)),  # updated_at: the newer report
        TrackingFact(
            shipment=PARCEL_1,
            status=ShipmentStatus.IN_TRANSIT,
            occurred_at=utc(3, 8, 5),
            raw_status="in_transit",
            carrier="USPS",
        ),
    ]


def test_orders_updated_carries_both_parcels_with_parcel_1_in_transit_at_0805():
    envelope, facts = receive("orders_updated")
    assert envelope == handled("orders_updated", "orders/updated")
    assert facts == [
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


def test_fulfillment_events_create_reports_parcel_1_out_for_delivery_at_0730():
    envelope, facts = receive("fulfillment_events_create")
    assert envelope == handled("fulfillment_events_create", "fulfillment_events/create")
    (fact,) = facts  # est_delivery has its own test below
    assert replace(fact, est_delivery=None) == TrackingFact(
        shipment=PARCEL_1,
        status=ShipmentStatus.OUT_FOR_DELIVERY,
        occurred_at=utc(4, 7, 30),
        raw_status="out_for_delivery",
        message="Out for Delivery, Expected Delivery by 9:00pm",
    )


def test_fulfillment_events_create_delivered_reports_parcel_1_delivered_at_1512():
    envelope, facts = receive("fulfillment_events_create__delivered")
    assert envelope == handled("fulfillment_events_create__delivered", "fulfillment_events/create")
    (fact,) = facts  # est_delivery has its own test below
    assert replace(fact, est_delivery=None) == TrackingFact(
        shipment=PARCEL_1,
        status=ShipmentStatus.DELIVERED,
        occurred_at=utc(4, 15, 12),
        raw_status="delivered",
        message="Delivered, In/At Mailbox",
    )


@pytest.mark.parametrize(
    "name", ["fulfillment_events_create", "fulfillment_events_create__delivered"]
)
def test_fulfillment_event_estimated_delivery_is_the_shops_date_not_the_utc_date(name):
    # estimated_delivery_at is 2026-11-04T21:00:00-05:00: the customer expects it on the 4th
    # (EasyPost says 2026-11-04 for the same parcel), although it is already the 5th in UTC.
    (fact,) = receive(name)[1]
    assert fact.est_delivery == date(2026, 11, 4)


def test_customers_create_is_a_real_topic_ordertrack_keeps_as_ignored():
    envelope, facts = receive("customers_create")
    assert envelope == Envelope(
        topic="customers/create", dedupe_key=webhook_id("customers_create"), handled=False
    )
    assert facts == []


# --- Every documented code


def test_every_documented_shipment_status_is_in_the_providers_table():
    assert set(DOCUMENTED_SHIPMENT_STATUSES) <= set(shopify.SHIPMENT_STATUSES)


def test_every_documented_financial_status_is_in_the_providers_table():
    assert set(DOCUMENTED_FINANCIAL_STATUSES) <= set(shopify.FINANCIAL_STATUSES)


def _with_event_status(code: str) -> bytes:
    return edited("fulfillment_events_create", lambda p: p.update(status=code))


def _with_shipment_status(code: str) -> bytes:
    return edited("fulfillments_update", lambda p: p.update(shipment_status=code))


@pytest.mark.parametrize(("code", "expected"), DOCUMENTED_SHIPMENT_STATUSES.items())
def test_fulfillment_event_status_maps_to_its_documented_meaning(code, expected):
    (fact,) = receive("fulfillment_events_create", _with_event_status(code))[1]
    assert (fact.status, fact.raw_status) == (expected, code)


@pytest.mark.parametrize(("code", "expected"), DOCUMENTED_SHIPMENT_STATUSES.items())
def test_fulfillment_shipment_status_maps_to_its_documented_meaning(code, expected):
    facts = receive("fulfillments_update", _with_shipment_status(code))[1]
    (tracking,) = [f for f in facts if isinstance(f, TrackingFact)]
    assert (tracking.status, tracking.raw_status) == (expected, code)


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("fulfillment_events_create", _with_event_status),
        ("fulfillments_update", _with_shipment_status),
    ],
)
def test_an_undocumented_shipment_status_is_unknown_with_its_raw_code_never_in_transit(name, build):
    facts = receive(name, build("teleported"))[1]
    (tracking,) = [f for f in facts if isinstance(f, TrackingFact)]
    assert (tracking.status, tracking.raw_status) == (ShipmentStatus.UNKNOWN, "teleported")


@pytest.mark.parametrize(("code", "expected"), FINANCIAL_STATUS_MEANING.items())
def test_financial_status_moves_the_order_to_its_documented_meaning(code, expected):
    body = edited("orders_create", lambda p: p.update(financial_status=code))
    (order,) = receive("orders_create", body)[1]
    assert order.status is expected


def test_a_partial_refund_leaves_the_order_where_it_is():
    body = edited("orders_create", lambda p: p.update(financial_status="partially_refunded"))
    (order,) = receive("orders_create", body)[1]
    assert (order.status, order.unknown_status) == (None, None)


def test_an_undocumented_financial_status_is_kept_as_unknown_and_never_applied():
    body = edited("orders_create", lambda p: p.update(financial_status="teleported"))
    (order,) = receive("orders_create", body)[1]
    assert (order.status, order.unknown_status) == (None, "teleported")


@pytest.mark.parametrize("code", ["voided", "expired"])
def test_a_payment_that_fell_through_never_reads_as_progress(code):
    body = edited("orders_create", lambda p: p.update(financial_status=code))
    (order,) = receive("orders_create", body)[1]
    assert order.status not in (OrderStatus.RECEIVED, OrderStatus.PROCESSING, None)


def test_a_cancelled_at_cancels_the_order_whatever_the_topic():
    body = edited("orders_updated", lambda p: p.update(cancelled_at="2026-11-03T05:00:00-05:00"))
    order = receive("orders_updated", body)[1][0]
    assert (order.status, order.occurred_at) == (OrderStatus.CANCELLED, utc(3, 10))


@pytest.mark.parametrize("status", ["cancelled", "error", "failure"])
def test_a_fulfillment_that_did_not_happen_is_a_cancelled_shipment(status):
    body = edited("fulfillments_create", lambda p: p.update(status=status))
    assert receive("fulfillments_create", body)[1] == [replace(FULFILLMENT_1, cancelled=True)]


def test_tracking_number_is_normalized_without_spaces_in_upper_case():
    body = edited(
        "fulfillments_create__second_parcel",
        lambda p: p.update(tracking_number=" 1z999aa1 0123456784 "),
    )
    (fact,) = receive("fulfillments_create__second_parcel", body)[1]
    assert fact.tracking_number == "1Z999AA10123456784"


# --- Refusals


def test_a_signature_made_with_another_secret_is_refused():
    request = shopify_request("orders_create")
    forged = Request(
        "shopify",
        "orders_create",
        request.body,
        {**request.headers, "X-Shopify-Hmac-Sha256": shopify_signature(request.body, "other")},
    )
    with pytest.raises(BadSignature):
        shopify.verify(delivery(forged), Credentials(secrets=(SECRETS["shopify"],)))


def test_a_body_changed_after_signing_is_refused():
    request = shopify_request("orders_create")
    tampered = Request("shopify", "orders_create", request.body + b" ", request.headers)
    with pytest.raises(BadSignature):
        shopify.verify(delivery(tampered), Credentials(secrets=(SECRETS["shopify"],)))


def test_a_delivery_without_signature_is_refused():
    request = shopify_request("orders_create")
    headers = {k: v for k, v in request.headers.items() if k != "X-Shopify-Hmac-Sha256"}
    with pytest.raises(BadSignature):
        shopify.verify(
            delivery(Request("shopify", "x", request.body, headers)),
            Credentials(secrets=(SECRETS["shopify"],)),
        )


def test_a_rotated_secret_still_verifies_while_both_are_configured():
    shopify.verify(
        delivery(shopify_request("orders_create")), Credentials(secrets=("new", SECRETS["shopify"]))
    )


@pytest.mark.parametrize("topic", ["orders/teleported", ""])
def test_a_topic_shopify_never_sends_is_unknown(topic):
    request = shopify_request("orders_create")
    odd = Request("shopify", "x", request.body, {**request.headers, "X-Shopify-Topic": topic})
    with pytest.raises(UnknownTopic):
        shopify.envelope(delivery(odd), json.loads(request.body))


def test_a_delivery_without_webhook_id_cannot_be_deduplicated_and_is_refused():
    request = shopify_request("orders_create")
    headers = {k: v for k, v in request.headers.items() if k != "X-Shopify-Webhook-Id"}
    with pytest.raises(MissingFields):
        shopify.envelope(delivery(Request("shopify", "x", request.body, headers)), {})


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("fulfillment_events_create", "happened_at"),
        ("fulfillment_events_create", "fulfillment_id"),
        ("fulfillment_events_create", "status"),
        ("fulfillments_create", "order_id"),
        ("orders_create", "id"),
        ("orders_create", "created_at"),
    ],
)
def test_a_handled_topic_missing_a_required_field_names_it(name, field):
    body = edited(name, lambda p: p.pop(field))
    request = shopify_request(name, body)
    with pytest.raises(MissingFields) as refused:
        shopify.envelope(delivery(request), json.loads(body))
    assert field in refused.value.details
    with pytest.raises(MissingFields) as again:
        shopify.normalize(
            shopify_request(name).headers["X-Shopify-Topic"], json.loads(body), RECEIVED_AT
        )
    assert field in again.value.details


def test_a_timestamp_that_is_no_time_names_the_field():
    body = edited("fulfillment_events_create", lambda p: p.update(happened_at="yesterday"))
    with pytest.raises(MissingFields) as refused:
        shopify.normalize("fulfillment_events/create", json.loads(body), RECEIVED_AT)
    assert "happened_at" in refused.value.details


@pytest.mark.parametrize(
    ("consent", "expected"),
    [
        ({"state": "subscribed", "opt_in_level": "single_opt_in"}, True),
        ({"state": "not_subscribed", "opt_in_level": "single_opt_in"}, False),
        ({"state": "unsubscribed", "opt_in_level": None}, False),
        (None, None),
    ],
)
def test_sms_consent_is_what_shopify_reports_for_the_customer(consent, expected):
    body = edited("orders_create", lambda p: p["customer"].update(sms_marketing_consent=consent))
    (order,) = receive("orders_create", body)[1]
    assert order.customer.sms_consent is expected


def test_refunds_create_is_a_refund_of_the_mug_at_1500_that_moves_no_order_status():
    envelope, facts = receive("refunds_create")
    assert (envelope.topic, envelope.handled) == ("refunds/create", True)
    assert facts == [
        RefundFact(
            platform="shopify",
            order_id=ORDER_ID,
            occurred_at=datetime(2026, 11, 20, 15, 0, tzinfo=UTC),
            items=(LineItem("13001234567891", "", 1),),
        )
    ]
