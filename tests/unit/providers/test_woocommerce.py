"""WooCommerce provider, pure: every fixture through `check_webhook` (verify -> envelope ->
normalize), every documented order status against a table written from the documentation, the
ping, the secret's entity decoding, the dedupe key WooCommerce does not give us, and the ways a
delivery is refused. No database, no app."""

import base64
import hashlib
import hmac
import json
from datetime import datetime

import pytest

from ordertrack.errors import BadSignature, MissingFields, UnknownTopic
from ordertrack.facts import Customer, FulfillmentFact, LineItem, OrderFact
from ordertrack.providers import woocommerce
from ordertrack.providers.woocommerce.tables import ORDER_STATUSES, TABLES
from ordertrack.statuses import OrderStatus
from tests.support import check_webhook as webhook
from tests.support.check_webhook import check_webhook, edited, envelope_of, facts_of, utc
from tests.support.sources import woocommerce as wc
from tests.support.webhooks import Request, fixture_body, fixture_names

# --- Documentation table (the REST API's order `status` options and
# Automattic\WooCommerce\Enums\OrderStatus; sources in tests/fixtures/woocommerce/README.md).
# Written from the documented meaning of each code, not from ordertrack's own table.

DOCUMENTED_ORDER_STATUSES = {
    "pending": OrderStatus.RECEIVED,  # created, no payment yet
    "processing": OrderStatus.PROCESSING,  # paid, stock reduced, awaiting fulfilment
    "on-hold": OrderStatus.ON_HOLD,  # awaiting payment confirmation, or held by hand
    "completed": OrderStatus.COMPLETED,  # fulfilled and complete
    "cancelled": OrderStatus.CANCELLED,  # cancelled by the admin or the customer
    "refunded": OrderStatus.REFUNDED,  # fully refunded
    "failed": OrderStatus.ON_HOLD,  # payment failed or declined: somebody has to act
    "trash": OrderStatus.CANCELLED,  # moved to the bin
}
#: Block checkout in progress and admin drafts: orders nobody has placed.
DOCUMENTED_NOT_PLACED = ("checkout-draft", "draft", "auto-draft")
#: Statuses shipment-tracking plugins register; WooCommerce does not document them.
PLUGIN_STATUSES = ("shipped", "delivered", "partial-shipped")

# --- The story (tests/fixtures/woocommerce/README.md)

ORDER_ID = "2001"
ADA = Customer(
    email="ada@example.com",
    phone="+15555550142",
    name="Ada Lovelace",
    country_code="US",
    province_code="NY",
    postcode="10001",
)
ITEMS = (
    LineItem("101", "Analytical Engine Poster", 1),
    LineItem("102", "Difference Engine Mug", 2),
)
TRACKING_ID = "a1d90dbe4c5874f77d18ff1a34e9291c"
USPS_NUMBER = "9400111899223300002001"


def order_2001(
    occurred_at: datetime, status: OrderStatus, parcels: tuple[str, ...] = ()
) -> OrderFact:
    """The order as a full body says it; `parcels` is its complete list of tracking ids."""
    return OrderFact(
        platform="woocommerce",
        order_id=ORDER_ID,
        occurred_at=occurred_at,
        status=status,
        name="#2001",
        customer=ADA,
        items=ITEMS,
        fulfillment_ids=parcels,
    )


def usps_parcel(occurred_at: datetime) -> FulfillmentFact:
    return FulfillmentFact(
        platform="woocommerce",
        order_id=ORDER_ID,
        fulfillment_id=TRACKING_ID,
        occurred_at=occurred_at,
        carrier="USPS",
        tracking_number=USPS_NUMBER,
    )


def with_status(code: str, name: str = "order_updated__processing") -> bytes:
    return edited("woocommerce", name, status=code)


def tracking_meta(order: dict) -> dict:
    return next(m for m in order["meta_data"] if m["key"] == "_wc_shipment_tracking_items")


def completed_with(edit) -> list:
    """The facts of the completed order with its body edited: the order, then its parcels."""
    name = "order_updated__completed"
    return facts_of("woocommerce", name, edited("woocommerce", name, edit))


# --- One test per fixture


def test_order_created_is_order_2001_received_at_1400_with_ada_and_two_items():
    expected = [order_2001(utc(9, 14), OrderStatus.RECEIVED)]
    check_webhook("woocommerce", "order_created", expected, topic="order.created")


def test_order_updated_processing_is_order_2001_paid_at_140042():
    expected = [order_2001(utc(9, 14, 0, 42), OrderStatus.PROCESSING)]
    check_webhook("woocommerce", "order_updated__processing", expected, topic="order.updated")


def test_order_updated_completed_completes_order_2001_and_ships_it_with_usps():
    expected = [
        order_2001(utc(10, 15, 30, 5), OrderStatus.COMPLETED, (TRACKING_ID,)),
        usps_parcel(utc(10, 15, 30, 5)),
    ]
    check_webhook("woocommerce", "order_updated__completed", expected, topic="order.updated")


def test_order_updated_on_hold_holds_order_2001_at_1820():
    expected = [order_2001(utc(9, 18, 20), OrderStatus.ON_HOLD)]
    check_webhook("woocommerce", "order_updated__on_hold", expected, topic="order.updated")


def test_order_updated_failed_payment_holds_order_2001_and_does_not_cancel_it():
    expected = [order_2001(utc(9, 14, 0, 42), OrderStatus.ON_HOLD)]
    check_webhook("woocommerce", "order_updated__failed", expected, topic="order.updated")


def test_order_updated_cancelled_cancels_the_unpaid_order_2001_at_1500():
    expected = [order_2001(utc(9, 15), OrderStatus.CANCELLED)]
    check_webhook("woocommerce", "order_updated__cancelled", expected, topic="order.updated")


def test_order_updated_refunded_refunds_order_2001_and_still_names_its_parcel():
    expected = [
        order_2001(utc(16, 17, 45), OrderStatus.REFUNDED, (TRACKING_ID,)),
        usps_parcel(utc(16, 17, 45)),  # the order's last change is the newest news of it
    ]
    check_webhook("woocommerce", "order_updated__refunded", expected, topic="order.updated")


def test_order_created_checkout_draft_is_stored_but_creates_no_order():
    check_webhook("woocommerce", "order_created__checkout_draft", [], topic="order.created")


def test_order_deleted_cancels_order_2001_when_ordertrack_heard_of_it():
    expected = OrderFact(
        platform="woocommerce",
        order_id=ORDER_ID,
        occurred_at=webhook.RECEIVED_AT["woocommerce"],  # the body is {"id": 2001} and nothing else
        status=OrderStatus.CANCELLED,
        detail="deleted",
    )
    check_webhook("woocommerce", "order_deleted", [expected], topic="order.deleted")


def test_order_restored_brings_order_2001_back_to_processing_at_160210():
    expected = [order_2001(utc(9, 16, 2, 10), OrderStatus.PROCESSING)]
    check_webhook("woocommerce", "order_restored", expected, topic="order.restored")


@pytest.mark.parametrize("name", fixture_names("woocommerce"))
def test_each_delivery_is_keyed_by_a_digest_of_its_news(name):
    assert envelope_of("woocommerce", name).dedupe_key.startswith("sha256:")


def test_a_restore_heard_after_a_late_deletion_is_dated_when_heard_so_it_wins():
    payload = json.loads(fixture_body("woocommerce", "order_restored"))
    heard = utc(9, 16, 30)  # the deletion was only heard at 16:20, after the 16:02 restore
    (order,) = webhook.normalized("woocommerce", "order.restored", payload, heard)
    assert (order.status, order.occurred_at) == (OrderStatus.PROCESSING, heard)


def test_a_real_topic_ordertrack_does_not_use_is_kept_as_ignored():
    envelope, facts = webhook.receive("woocommerce", "order_created", topic="product.updated")
    assert (envelope.topic, envelope.handled, facts) == ("product.updated", False, [])


# --- Every documented status


def test_every_documented_order_status_is_in_the_providers_table():
    documented = set(DOCUMENTED_ORDER_STATUSES) | set(DOCUMENTED_NOT_PLACED)
    assert documented <= set(ORDER_STATUSES)
    assert TABLES == {"Order `status`": ORDER_STATUSES}


@pytest.mark.parametrize(("code", "expected"), DOCUMENTED_ORDER_STATUSES.items())
def test_order_status_moves_the_order_to_its_documented_meaning(code, expected):
    (order,) = facts_of("woocommerce", "order_updated__processing", with_status(code))
    assert (order.status, order.unknown_status) == (expected, None)


@pytest.mark.parametrize("code", DOCUMENTED_NOT_PLACED)
@pytest.mark.parametrize("name", ["order_created", "order_updated__completed", "order_restored"])
def test_an_order_nobody_placed_creates_nothing_not_even_its_parcels(code, name):
    assert facts_of("woocommerce", name, with_status(code, name)) == []


@pytest.mark.parametrize("code", PLUGIN_STATUSES)
def test_a_status_a_plugin_added_is_kept_as_unknown_and_never_guessed(code):
    order, parcel = completed_with(lambda p: p.update(status=code))
    assert (order.status, order.unknown_status) == (None, code)
    assert (order.name, order.customer, order.items) == ("#2001", ADA, ITEMS)
    assert parcel == usps_parcel(utc(10, 15, 30, 5))  # the parcel is real news all the same


# --- Times


def test_the_event_time_is_date_modified_gmt_read_as_utc_not_the_shops_wall_clock():
    payload = json.loads(fixture_body("woocommerce", "order_updated__completed"))
    assert payload["date_modified"] == "2026-11-10T10:30:05"  # New York, no offset given
    (order, _) = facts_of("woocommerce", "order_updated__completed")
    assert order.occurred_at == utc(10, 15, 30, 5)


def test_without_date_modified_gmt_the_order_is_as_old_as_date_created_gmt():
    name = "order_updated__processing"
    (order,) = facts_of("woocommerce", name, edited("woocommerce", name, date_modified_gmt=None))
    assert order.occurred_at == utc(9, 14)


def test_a_date_that_is_no_time_names_the_field():
    body = edited("woocommerce", "order_created", date_modified_gmt="yesterday")
    with pytest.raises(MissingFields) as refused:
        webhook.normalized("woocommerce", "order.created", json.loads(body))
    assert "date_modified_gmt" in refused.value.details


# --- Tracking from the Shipment Tracking plugin


def _custom_provider(order: dict) -> None:
    (item,) = tracking_meta(order)["value"]
    item.update(
        tracking_provider="",
        custom_tracking_provider="Analytical Couriers",
        custom_tracking_link="https://track.analytical-couriers.example/AC-2001",
        tracking_number=" ac 2001 ",
    )


def test_a_custom_provider_names_the_carrier_and_its_link_is_the_tracking_url():
    parcel = completed_with(_custom_provider)[1]
    assert (parcel.carrier, parcel.tracking_number, parcel.tracking_url) == (
        "Analytical Couriers",
        "AC2001",
        "https://track.analytical-couriers.example/AC-2001",
    )


def test_each_tracking_item_is_its_own_parcel_in_the_plugins_order():
    second = {
        "tracking_provider": "UPS",
        "custom_tracking_provider": "",
        "custom_tracking_link": "",
        "tracking_number": "1Z999AA10123452001",
        "date_shipped": "1794355200",
        "tracking_id": "5b0f3c9e8d7a6b5c4d3e2f1a0b9c8d7e",
    }
    parcels = completed_with(lambda p: tracking_meta(p)["value"].append(second))[1:]
    assert [(p.fulfillment_id, p.carrier, p.tracking_number) for p in parcels] == [
        (TRACKING_ID, "USPS", USPS_NUMBER),
        ("5b0f3c9e8d7a6b5c4d3e2f1a0b9c8d7e", "UPS", "1Z999AA10123452001"),
    ]


def test_a_tracking_item_without_tracking_id_is_known_by_its_number():
    parcel = completed_with(lambda p: tracking_meta(p)["value"][0].pop("tracking_id"))[1]
    assert parcel.fulfillment_id == USPS_NUMBER


def test_tracking_items_stored_with_gaps_in_their_keys_are_read_all_the_same():
    def gapped(order: dict) -> None:
        meta = tracking_meta(order)
        meta["value"] = {"1": meta["value"][0]}  # PHP array [1 => item] after an unset()

    assert completed_with(gapped)[1] == usps_parcel(utc(10, 15, 30, 5))


def test_a_tracking_item_with_a_blank_number_is_no_parcel():
    facts = completed_with(lambda p: tracking_meta(p)["value"][0].update(tracking_number="  "))
    assert facts == [order_2001(utc(10, 15, 30, 5), OrderStatus.COMPLETED)]


def test_tracking_meta_that_is_not_tracking_items_names_the_meta():
    body = edited(
        "woocommerce",
        "order_updated__completed",
        lambda p: tracking_meta(p).update(value=[{"tracking_provider": "USPS"}]),
    )
    with pytest.raises(MissingFields) as refused:
        webhook.normalized("woocommerce", "order.updated", json.loads(body))
    assert "meta_data" in refused.value.details


# --- Signature


def test_the_signature_is_over_the_bytes_as_sent_with_their_escaped_slashes():
    request = webhook.signed("woocommerce", "order_updated__completed")
    assert b'"https:\\/\\/analytical-engines.example\\/wp-json' in request.body
    assert webhook.accept("woocommerce", request).topic == "order.updated"
    reserialized = json.dumps(json.loads(request.body)).encode()  # "/" no longer escaped
    with pytest.raises(BadSignature):
        webhook.accept("woocommerce", Request("woocommerce", "x", reserialized, request.headers))


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda r: webhook.signed("woocommerce", "order_created", secret="another secret"),
            id="signed with another secret",
        ),
        pytest.param(
            lambda r: Request("woocommerce", "x", r.body.replace(b"65.70", b"0.01"), r.headers),
            id="body changed after signing",
        ),
        pytest.param(
            lambda r: webhook.with_headers(r, {"X-WC-Webhook-Signature": None}), id="unsigned"
        ),
    ],
)
def test_a_delivery_not_signed_with_the_secret_is_refused(tamper):
    with pytest.raises(BadSignature):
        webhook.accept("woocommerce", tamper(webhook.signed("woocommerce", "order_created")))


def _signed_with_key(key: bytes, name: str = "order_created") -> Request:
    """Signed with exactly these key bytes, whatever WooCommerce would decode them to."""
    body = fixture_body("woocommerce", name)
    signature = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
    return webhook.with_headers(
        webhook.signed("woocommerce", name, body), {"X-WC-Webhook-Signature": signature}
    )


def test_a_secret_shown_with_html_entities_signs_with_them_decoded():
    # The admin shows `a&amp;b`; WooCommerce signs with wp_specialchars_decode(): `a&b`.
    shown = webhook.credentials("woocommerce", secrets=("a&amp;b",))
    decoded = webhook.accept("woocommerce", _signed_with_key(b"a&b"), shown)
    assert decoded.topic == "order.created"
    with pytest.raises(BadSignature):
        webhook.accept("woocommerce", _signed_with_key(b"a&amp;b"), shown)


@pytest.mark.parametrize(
    ("stored", "key"),
    [
        ("a&amp;b", "a&b"),
        ("&lt;&gt;&quot;&#039;", "<>\"'"),
        ("&#0039;&#X27;&#x0026;&#38;", "''&&"),  # zero padding and hex case do not matter
        ("&amp;lt;", "&lt;"),  # one pass only
        ("&copy;&#169;&nbsp;", "&copy;&#169;&nbsp;"),  # not &, <, >, " or ': left as typed
        ("plain-secret", "plain-secret"),
    ],
)
def test_the_secret_is_decoded_as_wordpress_decodes_it(stored, key):
    assert woocommerce.wp_specialchars_decode(stored) == key


def test_a_rotated_secret_verifies_while_both_are_configured():
    rotated = webhook.credentials("woocommerce", secrets=("next-secret", wc.SECRET))
    assert envelope_of("woocommerce", "order_created", configured=rotated).topic == "order.created"
    with pytest.raises(BadSignature):
        envelope_of(
            "woocommerce",
            "order_created",
            configured=webhook.credentials("woocommerce", secrets=("next-secret",)),
        )


# --- The ping


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded; charset=UTF-8",
        "application/x-www-form-urlencoded",
        None,  # a transport that sets none: the body still cannot be anything else
    ],
    ids=["form with charset", "form", "none"],
)
def test_the_ping_woocommerce_sends_on_saving_a_webhook_is_a_handshake(content_type):
    ping = webhook.with_headers(wc.ping(webhook_id=12), {"Content-Type": content_type})
    assert ping.body == b"webhook_id=12"
    assert woocommerce.handshake(webhook.as_received(ping))


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"webhook_id=12&action=ping", "application/x-www-form-urlencoded"),
        (b"webhook_id=twelve", "application/x-www-form-urlencoded"),
        (b"webhook_id=", "application/x-www-form-urlencoded"),
        (b"action=ping", "application/x-www-form-urlencoded"),
        (b"webhook_id=12\n", "application/x-www-form-urlencoded"),
        (b"webhook_id=12", "application/json"),
        (b'{"webhook_id": 12}', "application/json"),
    ],
    ids=[
        "another field",
        "no number",
        "empty id",
        "no id",
        "trailing newline",
        "json content type",
        "json",
    ],
)
def test_a_body_that_is_not_exactly_the_ping_is_no_handshake(body, content_type):
    request = Request("woocommerce", "x", body, {"Content-Type": content_type})
    assert not woocommerce.handshake(webhook.as_received(request))


def test_a_ping_body_that_names_a_topic_is_no_handshake():
    ping = webhook.with_headers(wc.ping(), {"X-WC-Webhook-Topic": "order.updated"})
    assert not woocommerce.handshake(webhook.as_received(ping))


# --- Topics and fields


@pytest.mark.parametrize(
    "topic",
    ["order.shipped", "orders/create", "", None],
    ids=["unknown", "shopify's", "empty", "none"],
)
def test_a_topic_woocommerce_never_sends_is_unknown(topic):
    request = webhook.signed("woocommerce", "order_created", topic=topic or "order.created")
    with pytest.raises(UnknownTopic):
        webhook.accept("woocommerce", webhook.with_headers(request, {"X-WC-Webhook-Topic": topic}))


#: A field each handled topic must carry, by fixture.
REQUIRED_FIELDS = [
    ("order_created", "id"),
    ("order_created", "status"),
    ("order_created", "date_created_gmt"),
    ("order_updated__completed", "id"),
    ("order_restored", "status"),
    ("order_deleted", "id"),
]


@pytest.mark.parametrize(("name", "field"), REQUIRED_FIELDS)
def test_a_handled_topic_missing_a_required_field_is_refused_at_the_edge_naming_it(name, field):
    body = edited("woocommerce", name, lambda p: p.pop(field))
    with pytest.raises(MissingFields) as refused:
        envelope_of("woocommerce", name, body)
    assert field in refused.value.details


@pytest.mark.parametrize(("name", "field"), REQUIRED_FIELDS)
def test_a_stored_payload_missing_a_required_field_is_refused_by_the_worker(name, field):
    body = edited("woocommerce", name, lambda p: p.pop(field))
    with pytest.raises(MissingFields) as refused:
        webhook.normalized("woocommerce", wc.topic_of(name), json.loads(body))
    assert field in refused.value.details


def test_a_line_item_without_id_is_refused_by_the_worker():
    body = edited("woocommerce", "order_created", lambda p: p["line_items"][0].pop("id"))
    with pytest.raises(MissingFields) as refused:
        webhook.normalized("woocommerce", "order.created", json.loads(body))
    assert "line_items" in refused.value.details


# --- The dedupe key (WooCommerce has no event id, and never retries)


def test_the_same_body_on_the_same_topic_is_the_same_news_whatever_the_delivery_id():
    first = envelope_of("woocommerce", "order_updated__processing", delivery="0" * 32)
    again = envelope_of("woocommerce", "order_updated__processing", delivery="f" * 32)
    assert first.dedupe_key == again.dedupe_key
    assert len(first.dedupe_key) <= 255


def test_another_update_of_the_same_order_is_other_news():
    # Same order, same status, same everything but date_modified: a restore is not the payment.
    paid = envelope_of("woocommerce", "order_updated__processing")
    restored = envelope_of("woocommerce", "order_restored", topic="order.updated")
    assert paid.dedupe_key != restored.dedupe_key


def test_the_same_body_on_another_topic_is_other_news():
    created = envelope_of("woocommerce", "order_created")
    updated = envelope_of("woocommerce", "order_created", topic="order.updated")
    assert created.dedupe_key != updated.dedupe_key


def test_deleted_restored_and_deleted_again_are_two_deletions():
    first = envelope_of("woocommerce", "order_deleted", delivery="9c1185a5c5e9fc54612808977ee8f548")
    second = envelope_of(
        "woocommerce", "order_deleted", delivery="45c48cce2e2d7fbdea1afc51c7c6ad26"
    )
    again = envelope_of("woocommerce", "order_deleted", delivery="45c48cce2e2d7fbdea1afc51c7c6ad26")
    assert first.dedupe_key != second.dedupe_key
    assert second.dedupe_key == again.dedupe_key


def test_a_deletion_without_delivery_id_cannot_be_told_from_another_and_is_refused():
    request = webhook.signed("woocommerce", "order_deleted")
    with pytest.raises(MissingFields):
        webhook.accept(
            "woocommerce", webhook.with_headers(request, {"X-WC-Webhook-Delivery-ID": None})
        )


def test_every_fixture_is_named_above():
    names = {
        "order_created",
        "order_created__checkout_draft",
        "order_updated__processing",
        "order_updated__completed",
        "order_updated__on_hold",
        "order_updated__failed",
        "order_updated__cancelled",
        "order_updated__refunded",
        "order_deleted",
        "order_restored",
    }
    assert set(fixture_names("woocommerce")) == names
