"""BigCommerce provider, pure: every callback fixture through verify and envelope, every
fetched fixture set through `check_webhook` (the callback verified and read, then normalized
from what the store's API answered), every documented order status id against a table written
from the documentation, the RFC 2822 dates of the V2 API and the dedupe key rule. No network
(the fetch is tested against `responses` in tests/integration/test_bigcommerce_fetch.py)."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from marshmallow import ValidationError

from ordertrack import lifecycle
from ordertrack.errors import BadSignature, MalformedPayload, MissingFields, UnknownTopic
from ordertrack.facts import Customer, FulfillmentFact, LineItem, OrderFact
from ordertrack.providers import bigcommerce
from ordertrack.providers.base import Envelope
from ordertrack.providers.bigcommerce.schemas import Rfc2822DateTime
from ordertrack.providers.bigcommerce.tables import ORDER_STATUSES
from ordertrack.statuses import OrderStatus
from tests.support import check_webhook as webhook
from tests.support.check_webhook import check_webhook, envelope_of, facts_of, utc
from tests.support.sources.bigcommerce import SECRET, api_body
from tests.support.webhooks import fixture_body

# --- Documentation table: Orders V2, GET /order_statuses "Order Status Descriptions".
# Written from each status's documented meaning, not from ordertrack's table. NO_FACTS: the
# order is an abandoned checkout and must not reach the lifecycle at all.
NO_FACTS = object()
DOCUMENTED_STATUS_IDS = {
    0: ("Incomplete", NO_FACTS),  # reached the payment page, did not complete
    1: ("Pending", OrderStatus.RECEIVED),  # started checkout, not completed
    2: ("Shipped", OrderStatus.SHIPPED),  # seller used Ship Items
    3: ("Partially Shipped", OrderStatus.SHIPPED),  # some items shipped
    4: ("Refunded", OrderStatus.REFUNDED),
    5: ("Cancelled", OrderStatus.CANCELLED),
    6: ("Declined", OrderStatus.CANCELLED),  # declined for lack of payment: will not ship
    7: ("Awaiting Payment", OrderStatus.RECEIVED),  # payment not yet confirmed
    8: ("Awaiting Pickup", OrderStatus.AVAILABLE_FOR_PICKUP),  # waiting for the customer
    9: ("Awaiting Shipment", OrderStatus.PROCESSING),  # packed, waiting for the carrier
    10: ("Completed", OrderStatus.COMPLETED),
    11: ("Awaiting Fulfillment", OrderStatus.PROCESSING),  # paid, to be fulfilled
    12: ("Manual Verification Required", OrderStatus.ON_HOLD),
    13: ("Disputed", OrderStatus.ON_HOLD),  # PayPal dispute open
    14: ("Partially Refunded", None),  # no change: the order goes on
}

# --- The story (tests/fixtures/bigcommerce/README.md)

ADA = Customer(
    email="ada@example.com",
    phone="+15555550142",
    name="Ada Lovelace",
    country_code="US",
    postcode="10001",
)
ITEMS_3001 = (
    LineItem("4101", "Analytical Engine Poster", 1),
    LineItem("4102", "Difference Engine Mug", 2),
)
UPS_3001 = "1Z999AA10123453001"
UPS_3002 = "1Z999AA10123453002"


def order_3001(occurred_at: datetime, status: OrderStatus | None) -> OrderFact:
    return OrderFact(
        platform="bigcommerce",
        order_id="3001",
        occurred_at=occurred_at,
        status=status,
        name="#3001",
        customer=ADA,
        items=ITEMS_3001,
    )


def shipment_31(occurred_at: datetime, tracking: str = UPS_3001) -> FulfillmentFact:
    return FulfillmentFact(
        platform="bigcommerce",
        order_id="3001",
        fulfillment_id="31",
        occurred_at=occurred_at,
        carrier="ups",
        tracking_number=tracking,
        tracking_url=f"https://www.ups.com/track?tracknum={tracking}",
        items=ITEMS_3001,
    )


# --- The helpers: the callback as sent, and what the worker's fetch hands normalize()


def callback(name: str) -> dict:
    return json.loads(fixture_body("bigcommerce", name))


def fetched(name: str, order: str, products: str | None = None, shipments: str | None = None):
    """What fetch() hands normalize(): the callback and the recorded API answers (a single
    shipment for the shipment scopes, the order's list for the order scopes)."""
    body = api_body(shipments) if shipments else []
    return {
        "event": callback(name),
        "order": api_body(order),
        "products": api_body(products) if products else [],
        "shipments": body if isinstance(body, list) else [body],
    }


def shipment_31_fetched(name: str, shipment: str = "order_3001_shipment_31") -> dict:
    """Shipment 31 of the shipped order 3001, as the API answers for a shipment scope."""
    return fetched(name, "order_3001__shipped", "order_3001_products__shipped", shipment)


def handled(name: str) -> Envelope:
    event = callback(name)
    key = f"{event['scope']}:{event['hash']}:{event['created_at']}"
    return Envelope(topic=event["scope"], dedupe_key=key, handled=True)


# --- Every callback fixture: verified by the hook's header, named and keyed


@pytest.mark.parametrize(
    ("name", "scope", "is_handled"),
    [
        ("order_created", "store/order/created", True),
        ("order_created__incomplete", "store/order/created", True),
        ("order_statusUpdated", "store/order/statusUpdated", True),
        ("order_statusUpdated__shipped", "store/order/statusUpdated", True),
        ("order_statusUpdated__cancelled", "store/order/statusUpdated", True),
        ("order_statusUpdated__refunded", "store/order/statusUpdated", True),
        ("order_statusUpdated__partially_refunded", "store/order/statusUpdated", True),
        ("order_updated", "store/order/updated", True),
        ("shipment_created", "store/shipment/created", True),
        ("shipment_updated__tracking_replaced", "store/shipment/updated", True),
        ("shipment_deleted", "store/shipment/deleted", True),
        ("order_refund_created", "store/order/refund/created", False),
        ("order_archived", "store/order/archived", False),
    ],
)
def test_callback_verifies_and_is_keyed_by_scope_hash_and_created_at(name, scope, is_handled):
    event = callback(name)
    assert envelope_of("bigcommerce", name) == Envelope(
        topic=scope,
        dedupe_key=f"{scope}:{event['hash']}:{event['created_at']}",
        handled=is_handled,
    )


def test_a_wrong_header_value_is_refused():
    with pytest.raises(BadSignature, match="X-Webhook-Token header does not match"):
        envelope_of("bigcommerce", "order_created", token="not-the-hook-token")


def test_a_callback_without_the_header_is_refused_and_the_header_is_named():
    request = webhook.with_headers(
        webhook.signed("bigcommerce", "order_created"), {"X-Webhook-Token": None}
    )
    with pytest.raises(BadSignature, match="X-Webhook-Token header is missing"):
        webhook.accept("bigcommerce", request)


def test_the_header_name_is_case_insensitive_as_http_says():
    envelope = envelope_of("bigcommerce", "order_created", header="x-webhook-token")
    assert envelope == handled("order_created")


def test_webhook_header_bigcommerce_names_another_header():
    configured = webhook.credentials("bigcommerce", header="X-Shop-Secret")
    envelope = envelope_of(
        "bigcommerce", "order_created", configured=configured, header="X-Shop-Secret"
    )
    assert envelope == handled("order_created")
    with pytest.raises(BadSignature, match="X-Webhook-Token header is missing"):
        envelope_of("bigcommerce", "order_created", header="X-Shop-Secret")


def test_the_default_header_is_not_accepted_once_another_is_configured():
    configured = webhook.credentials("bigcommerce", header="X-Shop-Secret")
    with pytest.raises(BadSignature, match="X-Shop-Secret header is missing"):
        # X-Webhook-Token carries the right value
        envelope_of("bigcommerce", "order_created", configured=configured)


def test_while_rotating_both_the_old_and_the_new_value_verify():
    rotating = webhook.credentials("bigcommerce", secrets=("bc-hook-token-new", SECRET))
    assert envelope_of("bigcommerce", "order_created", configured=rotating) == handled(
        "order_created"
    )
    renewed = envelope_of(
        "bigcommerce", "order_created", configured=rotating, token="bc-hook-token-new"
    )
    assert renewed == handled("order_created")
    with pytest.raises(BadSignature):
        envelope_of("bigcommerce", "order_created", configured=rotating, token="bc-hook-token-old")


def test_a_valid_standard_webhooks_signature_does_not_replace_the_header():
    """The webhook-signature header is keyed by an app secret ordertrack does not hold."""
    request = webhook.with_headers(
        webhook.signed("bigcommerce", "order_created"), {"X-Webhook-Token": None}
    )
    assert request.headers["webhook-signature"].startswith("v1,")
    with pytest.raises(BadSignature):
        webhook.accept("bigcommerce", request)


def test_an_unknown_scope_is_refused():
    body = json.dumps(callback("order_created") | {"scope": "store/order/teleported"}).encode()
    with pytest.raises(UnknownTopic):
        envelope_of("bigcommerce", "order_created", body)


def test_handled_and_ignored_scopes_do_not_overlap_and_ignored_ones_are_real():
    assert not set(bigcommerce.HANDLED_TOPICS) & bigcommerce.tables.IGNORED_TOPICS
    for scope in ("store/order/refund/created", "store/cart/converted", "store/product/updated"):
        assert scope in bigcommerce.tables.IGNORED_TOPICS
    assert "store/channel/*/inventory/product/stock_changed" in bigcommerce.tables.IGNORED_TOPICS


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("order_created", lambda e: e.pop("hash")),
        ("order_created", lambda e: e.pop("created_at")),
        ("order_created", lambda e: e.update(created_at="1794236400")),
        ("order_created", lambda e: e.update(producer="stores/../../v3/hooks")),
        ("order_created", lambda e: e["data"].pop("id")),
        ("shipment_created", lambda e: e["data"].pop("orderId")),
    ],
    ids=[
        "no hash",
        "no created_at",
        "created_at a string, not unix",
        "producer not a store",
        "no order id",
        "no shipment's order id",
    ],
)
def test_a_callback_lacking_what_its_scope_must_carry_is_422(name, edit):
    event = callback(name)
    edit(event)
    with pytest.raises(MissingFields):
        envelope_of("bigcommerce", name, json.dumps(event).encode())


def test_a_created_at_no_time_can_hold_is_refused_by_strict_json_and_by_the_provider():
    event = callback("order_created") | {"created_at": 10**300}  # no time, and no short key
    body = json.dumps(event).encode()
    with pytest.raises(MalformedPayload):
        envelope_of("bigcommerce", "order_created", body)
    with pytest.raises(MissingFields):
        bigcommerce.envelope(
            webhook.as_received(webhook.signed("bigcommerce", "order_created", body)), event
        )


# --- The dedupe key rule


def test_a_retry_resends_the_same_callback_so_it_has_the_same_key():
    first = envelope_of("bigcommerce", "order_updated")
    assert envelope_of("bigcommerce", "order_updated").dedupe_key == first.dedupe_key


def test_two_updates_of_one_order_share_the_hash_but_not_the_key():
    """store/order/updated's data is {type, id}: its documented SHA-1 is the same for every
    update of order 3001, so the hash alone would drop the second update as a duplicate."""
    first = callback("order_updated")
    later = first | {"created_at": first["created_at"] + 3600}
    assert later["hash"] == first["hash"]
    assert (
        envelope_of("bigcommerce", "order_updated").dedupe_key
        != envelope_of("bigcommerce", "order_updated", json.dumps(later).encode()).dedupe_key
    )


def test_created_and_updated_of_one_order_share_the_hash_but_not_the_key():
    created, updated = callback("order_created"), callback("order_updated")
    assert created["hash"] == updated["hash"]  # both SHA-1 of {"type":"order","id":3001}
    assert (
        envelope_of("bigcommerce", "order_created").dedupe_key
        != envelope_of("bigcommerce", "order_updated").dedupe_key
    )


def test_the_key_fits_the_inbox_column():
    longest = max(
        bigcommerce.HANDLED_TOPICS | dict.fromkeys(bigcommerce.tables.IGNORED_TOPICS), key=len
    )
    key = bigcommerce.dedupe_key({"scope": longest, "hash": "f" * 128, "created_at": 10**11})
    assert len(key) <= 255


# --- One test per fetched fixture set: the callback received, then normalized


def test_order_created_is_order_3001_awaiting_fulfillment_with_ada_and_two_items():
    payload = fetched("order_created", "order_3001__awaiting_fulfillment", "order_3001_products")
    expected = [order_3001(utc(9, 15, 0, 2), OrderStatus.PROCESSING)]  # date_modified
    check_webhook(
        "bigcommerce", "order_created", expected, topic="store/order/created", fetched=payload
    )


def test_order_status_updated_to_awaiting_fulfillment_reads_the_fetched_order():
    payload = fetched(
        "order_statusUpdated", "order_3001__awaiting_fulfillment", "order_3001_products"
    )
    expected = [order_3001(utc(9, 15, 0, 2), OrderStatus.PROCESSING)]
    check_webhook(
        "bigcommerce",
        "order_statusUpdated",
        expected,
        topic="store/order/statusUpdated",
        fetched=payload,
    )


def test_shipment_created_is_shipment_31_by_ups_with_both_items_at_its_creation():
    expected = [order_3001(utc(10, 14, 0, 1), OrderStatus.SHIPPED), shipment_31(utc(10, 14))]
    check_webhook(
        "bigcommerce",
        "shipment_created",
        expected,
        topic="store/shipment/created",
        fetched=shipment_31_fetched("shipment_created"),
    )


@pytest.mark.parametrize(
    ("name", "scope"),
    [
        ("order_statusUpdated__shipped", "store/order/statusUpdated"),
        ("order_updated", "store/order/updated"),
    ],
)
def test_order_shipped_carries_its_shipments_as_of_the_callback(name, scope):
    payload = fetched(
        name, "order_3001__shipped", "order_3001_products__shipped", "order_3001_shipments"
    )
    expected = [
        order_3001(utc(10, 14, 0, 1), OrderStatus.SHIPPED),
        shipment_31(utc(10, 14, 0, 1)),  # the callback is a second after the shipment
    ]
    check_webhook("bigcommerce", name, expected, topic=scope, fetched=payload)


def test_shipment_updated_replaces_the_tracking_number_and_is_newer_than_the_creation():
    name = "shipment_updated__tracking_replaced"
    expected = [
        order_3001(utc(10, 14, 0, 1), OrderStatus.SHIPPED),
        shipment_31(utc(10, 16, 30), tracking=UPS_3002),  # same date_created, later callback
    ]
    payload = shipment_31_fetched(name, "order_3001_shipment_31__tracking_replaced")
    check_webhook("bigcommerce", name, expected, topic="store/shipment/updated", fetched=payload)


@pytest.mark.parametrize("replaced_first", [False, True], ids=["in order", "replaced first"])
def test_the_replaced_tracking_number_wins_whichever_callback_is_processed_first(replaced_first):
    created = facts_of(
        "bigcommerce", "shipment_created", fetched=shipment_31_fetched("shipment_created")
    )
    name = "shipment_updated__tracking_replaced"
    payload = shipment_31_fetched(name, "order_3001_shipment_31__tracking_replaced")
    replaced = facts_of("bigcommerce", name, fetched=payload)
    batches = [replaced, created] if replaced_first else [created, replaced]
    state = lifecycle.OrderState()
    for facts in batches:
        state = lifecycle.apply(state, facts).state
    (shipment,) = state.shipments
    assert shipment.tracking_number == UPS_3002


def test_shipment_deleted_cancels_fulfillment_31_from_the_callback_alone():
    expected = FulfillmentFact(
        platform="bigcommerce",
        order_id="3001",
        fulfillment_id="31",
        occurred_at=utc(10, 17),
        cancelled=True,
    )
    check_webhook(
        "bigcommerce",
        "shipment_deleted",
        [expected],
        topic="store/shipment/deleted",
        fetched={"event": callback("shipment_deleted")},
    )


def test_a_deleted_shipment_no_longer_counts_towards_the_order():
    shipped = facts_of(
        "bigcommerce", "shipment_created", fetched=shipment_31_fetched("shipment_created")
    )
    deleted = facts_of(
        "bigcommerce", "shipment_deleted", fetched={"event": callback("shipment_deleted")}
    )
    state = lifecycle.apply(lifecycle.apply(lifecycle.OrderState(), shipped).state, deleted).state
    assert not any(s.live for s in state.shipments)
    assert state.status is OrderStatus.SHIPPED  # the platform's own word is what remains


def test_order_status_updated_cancelled_is_order_3002_cancelled_at_1800():
    name = "order_statusUpdated__cancelled"
    expected = OrderFact(
        platform="bigcommerce",
        order_id="3002",
        occurred_at=utc(9, 18),
        status=OrderStatus.CANCELLED,
        name="#3002",
        customer=ADA,
        items=(LineItem("4103", "Difference Engine Mug", 1),),
    )
    payload = fetched(name, "order_3002__cancelled", "order_3002_products")
    check_webhook(
        "bigcommerce", name, [expected], topic="store/order/statusUpdated", fetched=payload
    )


def test_order_status_updated_refunded_is_order_3001_refunded():
    name = "order_statusUpdated__refunded"
    payload = fetched(
        name, "order_3001__refunded", "order_3001_products__shipped", "order_3001_shipments"
    )
    expected = [order_3001(utc(16, 10), OrderStatus.REFUNDED), shipment_31(utc(16, 10))]
    check_webhook("bigcommerce", name, expected, topic="store/order/statusUpdated", fetched=payload)


def test_order_status_updated_partially_refunded_leaves_the_status_alone():
    name = "order_statusUpdated__partially_refunded"
    payload = fetched(
        name,
        "order_3001__partially_refunded",
        "order_3001_products__shipped",
        "order_3001_shipments",
    )
    expected = [order_3001(utc(16, 10), None), shipment_31(utc(16, 10))]
    check_webhook("bigcommerce", name, expected, topic="store/order/statusUpdated", fetched=payload)


def test_an_incomplete_order_is_an_abandoned_checkout_and_yields_no_facts():
    name = "order_created__incomplete"
    payload = {"event": callback(name), "order": api_body("order_3003__incomplete")}
    check_webhook("bigcommerce", name, [], topic="store/order/created", fetched=payload)


def test_an_order_scope_without_its_fetched_order_is_refused():
    with pytest.raises(MissingFields, match="fetched order"):
        facts_of("bigcommerce", "order_created", fetched={"event": callback("order_created")})


def test_a_fetched_order_with_a_date_that_is_not_rfc_2822_is_refused():
    payload = fetched("order_created", "order_3001__awaiting_fulfillment")
    payload["order"]["date_modified"] = "2026-11-09T15:00:02+00:00"
    with pytest.raises(MissingFields):
        facts_of("bigcommerce", "order_created", fetched=payload)


# --- Every documented status id


def _with_status(status_id: int) -> dict:
    payload = fetched("order_created", "order_3001__awaiting_fulfillment", "order_3001_products")
    payload["order"]["status_id"] = status_id
    return payload


def test_the_table_holds_every_documented_status_id_and_nothing_else():
    assert set(ORDER_STATUSES) == {str(i) for i in DOCUMENTED_STATUS_IDS}
    assert list(bigcommerce.tables.TABLES.values()) == [ORDER_STATUSES]


@pytest.mark.parametrize(
    ("status_id", "name", "meaning"),
    [(i, name, meaning) for i, (name, meaning) in DOCUMENTED_STATUS_IDS.items()],
)
def test_each_documented_status_id_maps_to_its_documented_meaning(status_id, name, meaning):
    facts = facts_of("bigcommerce", "order_created", fetched=_with_status(status_id))
    if meaning is NO_FACTS:
        assert facts == [], name
    else:
        (fact,) = facts
        assert (fact.status, fact.detail) == (meaning, None), name


def test_an_unknown_status_id_changes_nothing_and_names_the_raw_code():
    payload = _with_status(15)
    payload["order"]["status"] = "Ready for Courier"
    (fact,) = facts_of("bigcommerce", "order_created", fetched=payload)
    assert fact.status is None
    assert fact.unknown_status == "15 (Ready for Courier)"


# --- Items, carriers and customers as the V2 API writes them


def _with_shipment(shipment: dict) -> dict:
    payload = fetched("shipment_created", "order_3001__shipped", "order_3001_products__shipped")
    payload["shipments"] = [shipment]
    return payload


def test_a_partial_shipment_leaves_the_mugs_not_shipped():
    """Parcel items and order items are both named by the order product id."""
    shipment = api_body("order_3001_shipment_31")
    shipment["items"] = shipment["items"][:1]  # the poster only
    facts = facts_of("bigcommerce", "shipment_created", fetched=_with_shipment(shipment))
    state = lifecycle.apply(lifecycle.OrderState(), facts).state
    assert lifecycle.items_not_shipped(state) == 2


@pytest.mark.parametrize(
    ("edit", "carrier", "url"),
    [
        ({}, "ups", f"https://www.ups.com/track?tracknum={UPS_3001}"),
        ({"tracking_carrier": "dhl"}, "dhl", f"https://www.ups.com/track?tracknum={UPS_3001}"),
        (
            {"shipping_provider": "upsready"},
            "ups",
            f"https://www.ups.com/track?tracknum={UPS_3001}",
        ),
        (
            {"shipping_provider": "endicia"},
            "usps",
            f"https://www.ups.com/track?tracknum={UPS_3001}",
        ),
        (
            {"shipping_provider": "shipperhq"},
            None,
            f"https://www.ups.com/track?tracknum={UPS_3001}",
        ),
        (
            {"shipping_provider": "carrier_1234567"},
            None,
            f"https://www.ups.com/track?tracknum={UPS_3001}",
        ),
        ({"shipping_provider": ""}, None, f"https://www.ups.com/track?tracknum={UPS_3001}"),
        (
            {"tracking_link": "https://track.example.com/31", "generated_tracking_link": ""},
            "ups",
            "https://track.example.com/31",
        ),
        ({"generated_tracking_link": ""}, "ups", None),
    ],
    ids=[
        "as recorded",
        "tracking_carrier",
        "upsready",
        "endicia",
        "shipperhq",
        "a custom carrier",
        "no provider",
        "the merchant's link",
        "no link",
    ],
)
def test_the_carrier_and_tracking_link_of_a_shipment(edit, carrier, url):
    shipment = api_body("order_3001_shipment_31") | edit
    fact = facts_of("bigcommerce", "shipment_created", fetched=_with_shipment(shipment))[1]
    assert (fact.carrier, fact.tracking_url) == (carrier, url)


def test_a_shipment_without_a_tracking_number_has_none():
    shipment = api_body("order_3001_shipment_31") | {"tracking_number": ""}
    fact = facts_of("bigcommerce", "shipment_created", fetched=_with_shipment(shipment))[1]
    assert fact.tracking_number is None


def test_empty_billing_fields_are_not_a_customer_name_or_email():
    payload = fetched("order_created", "order_3001__awaiting_fulfillment")
    payload["order"]["billing_address"] |= {"email": "", "phone": "", "last_name": ""}
    (fact,) = facts_of("bigcommerce", "order_created", fetched=payload)
    assert fact.customer == Customer(
        email=None, phone=None, name="Ada", country_code="US", postcode="10001"
    )


# --- RFC 2822, the V2 date format


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 20 Nov 2012 00:00:00 +0000", datetime(2012, 11, 20, tzinfo=UTC)),
        ("Mon, 09 Nov 2026 10:00:02 -0500", utc(9, 15, 0, 2)),  # converted, not relabelled
        ("Mon, 09 Nov 2026 15:00:02 -0000", utc(9, 15, 0, 2)),  # "zone unknown": V2 is UTC
        ("09 Nov 2026 15:00:02 GMT", utc(9, 15, 0, 2)),  # the weekday is optional
    ],
)
def test_rfc_2822_dates_become_aware_utc(value, expected):
    parsed = Rfc2822DateTime().deserialize(value)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value", ["", "   ", "2026-11-09T15:00:02Z", "yesterday", "Mon, 99 Nov 2026 15:00:02 +0000", 0]
)
def test_anything_but_an_rfc_2822_date_is_a_validation_error(value):
    with pytest.raises(ValidationError):
        Rfc2822DateTime().deserialize(value)


def test_a_shipment_update_is_newer_than_its_creation_by_the_callback_time_alone():
    """A V2 shipment has no modified date: both answers carry the same date_created, so
    without the callback's created_at a replaced tracking number would tie with the original."""
    original = api_body("order_3001_shipment_31")
    updated = api_body("order_3001_shipment_31__tracking_replaced")
    assert original["date_created"] == updated["date_created"]
    name = "shipment_updated__tracking_replaced"
    payload = shipment_31_fetched(name, "order_3001_shipment_31__tracking_replaced")
    replaced = facts_of("bigcommerce", name, fetched=payload)[1]
    assert replaced.occurred_at > shipment_31(utc(10, 14)).occurred_at
