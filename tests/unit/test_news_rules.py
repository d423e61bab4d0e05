"""The notification policy: which move announces what, and when news has gone stale
(docs/design.md, "Notifications": "Never stale: if the order is already delivered, 'out for
delivery' is not sent")."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordertrack.lifecycle import ShipmentState
from ordertrack.notifications.news_rules import (
    announced_status,
    base_kind,
    find_parcel,
    is_stale,
    kind_to_announce,
    order_kind,
    parcel_key,
    parcel_kind,
    parcel_news,
    parcel_news_is_stale,
    parcel_ref,
    tracking_changed_kind,
)
from ordertrack.statuses import OrderStatus, ShipmentStatus, stage

S = OrderStatus
RECEIVED, OUT_FOR_DELIVERY = stage(S.RECEIVED), stage(S.OUT_FOR_DELIVERY)
IN_TRANSIT, DELIVERED, COMPLETED = stage(S.IN_TRANSIT), stage(S.DELIVERED), stage(S.COMPLETED)

#: What a fresh move to each status tells the customer (nothing, for the platform's own
#: bookkeeping and for the ends a merchant handles himself).
ANNOUNCES = {
    S.RECEIVED: None,
    S.PROCESSING: None,
    S.ON_HOLD: None,
    S.SHIPPED: "shipped",
    S.IN_TRANSIT: "shipped",
    S.OUT_FOR_DELIVERY: "out_for_delivery",
    S.DELIVERY_FAILED: "delivery_failed",
    S.AVAILABLE_FOR_PICKUP: "available_for_pickup",
    S.EXCEPTION: "exception",
    S.DELIVERED: "delivered",
    S.RETURNED: None,
    S.COMPLETED: None,
    S.CANCELLED: None,
    S.REFUNDED: None,
}
KINDS = sorted({kind for kind in ANNOUNCES.values() if kind})
#: The furthest stage at which each kind is still news. "Delivered" stays news when the
#: merchant completes the order a moment later.
LAST_NEWS_STAGE = {
    "shipped": IN_TRANSIT,
    "out_for_delivery": OUT_FOR_DELIVERY,
    "delivery_failed": OUT_FOR_DELIVERY,
    "available_for_pickup": OUT_FOR_DELIVERY,
    "exception": OUT_FOR_DELIVERY,
    "delivered": COMPLETED,
}
#: Detours are news only while they are true.
DETOURS = {"delivery_failed", "available_for_pickup", "exception"}


def test_every_order_status_is_covered_by_these_tests():
    assert set(ANNOUNCES) == set(OrderStatus)


@pytest.mark.parametrize(("status", "kind"), ANNOUNCES.items())
def test_a_fresh_order_moving_to_a_status_announces_its_kind(status, kind):
    assert kind_to_announce(status, RECEIVED) == kind


# ---------------------------------------------------------------------------------------------
# kind_to_announce: a move never announces news the order had gone past


def test_out_for_delivery_is_not_announced_once_the_order_had_been_delivered():
    """A second parcel's out-for-delivery after the first parcel was delivered is old news."""
    assert kind_to_announce(S.OUT_FOR_DELIVERY, DELIVERED) is None


def test_in_transit_again_after_a_failed_attempt_does_not_announce_shipped_again():
    assert kind_to_announce(S.IN_TRANSIT, OUT_FOR_DELIVERY) is None


def test_shipped_is_still_news_for_an_order_that_had_only_got_as_far_as_in_transit():
    assert kind_to_announce(S.SHIPPED, IN_TRANSIT) == "shipped"


def test_an_exception_out_for_delivery_is_announced_but_not_after_delivery():
    assert kind_to_announce(S.EXCEPTION, OUT_FOR_DELIVERY) == "exception"
    assert kind_to_announce(S.EXCEPTION, DELIVERED) is None


def test_delivered_is_announced_even_when_the_merchant_already_completed_the_order():
    assert kind_to_announce(S.DELIVERED, COMPLETED) == "delivered"


def test_nothing_is_announced_once_the_order_was_cancelled_or_refunded():
    for furthest in (RECEIVED, stage(S.CANCELLED)):
        assert kind_to_announce(S.CANCELLED, furthest) is None
        assert kind_to_announce(S.REFUNDED, furthest) is None
    assert kind_to_announce(S.DELIVERED, stage(S.CANCELLED)) is None


statuses = st.sampled_from(OrderStatus)
stages = st.integers(0, stage(S.REFUNDED))


@settings(max_examples=300)
@given(statuses, stages)
def test_a_move_announces_its_kind_exactly_while_the_order_had_not_gone_past_it(status, furthest):
    kind = ANNOUNCES[status]
    expected = kind if kind and furthest <= LAST_NEWS_STAGE[kind] else None
    assert kind_to_announce(status, furthest) == expected


# ---------------------------------------------------------------------------------------------
# is_stale: checked again when a message is about to be sent


def test_out_for_delivery_is_stale_once_the_order_is_delivered():
    assert is_stale("out_for_delivery", S.DELIVERED)


def test_out_for_delivery_is_still_news_while_out_for_delivery():
    assert not is_stale("out_for_delivery", S.OUT_FOR_DELIVERY)


def test_shipped_is_stale_once_the_order_is_out_for_delivery():
    assert is_stale("shipped", S.OUT_FOR_DELIVERY)
    assert not is_stale("shipped", S.IN_TRANSIT)


def test_delivered_stays_news_when_the_merchant_completes_the_order():
    assert not is_stale("delivered", S.COMPLETED)


def test_a_failed_attempt_is_stale_once_the_parcel_is_moving_again():
    assert is_stale("delivery_failed", S.IN_TRANSIT)
    assert is_stale("delivery_failed", S.OUT_FOR_DELIVERY)
    assert not is_stale("delivery_failed", S.DELIVERY_FAILED)


def test_an_exception_is_stale_once_it_is_no_longer_true():
    assert not is_stale("exception", S.EXCEPTION)
    assert is_stale("exception", S.IN_TRANSIT)


def test_pickup_news_is_stale_once_the_parcel_is_picked_up():
    assert not is_stale("available_for_pickup", S.AVAILABLE_FOR_PICKUP)
    assert is_stale("available_for_pickup", S.DELIVERED)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("final", [S.CANCELLED, S.REFUNDED])
def test_every_kind_is_stale_once_the_order_is_cancelled_or_refunded(kind, final):
    assert is_stale(kind, final)


@pytest.mark.parametrize("status", [s for s, kind in ANNOUNCES.items() if kind])
def test_news_is_never_stale_at_the_moment_its_status_is_reached(status):
    assert not is_stale(ANNOUNCES[status], status)


@settings(max_examples=300)
@given(st.sampled_from(KINDS), statuses)
def test_news_goes_out_only_while_the_order_has_not_moved_past_it(kind, current):
    if not is_stale(kind, current):
        assert current not in (S.CANCELLED, S.REFUNDED)
        assert stage(current) <= LAST_NEWS_STAGE[kind]
        if kind in DETOURS:
            assert ANNOUNCES[current] == kind


#: The earliest stage at which each main-line kind is true (shipped is news from "shipped").
FIRST_NEWS_STAGE = {"shipped": 2, "out_for_delivery": 4, "delivered": 5}


@settings(max_examples=300)
@given(st.sampled_from(KINDS), statuses)
def test_main_line_news_is_sent_only_while_the_order_stands_where_it_says(kind, current):
    if kind not in DETOURS and current not in (S.CANCELLED, S.REFUNDED):
        true_now = FIRST_NEWS_STAGE[kind] <= stage(current) <= LAST_NEWS_STAGE[kind]
        assert is_stale(kind, current) is not true_now


def test_delivered_is_stale_when_the_order_moved_back_because_a_parcel_turned_up():
    assert is_stale("delivered", S.SHIPPED)
    assert is_stale("delivered", S.IN_TRANSIT)
    assert not is_stale("delivered", S.DELIVERED)


def test_a_completed_order_whose_parcels_arrived_is_delivered_news():
    assert announced_status(S.COMPLETED, has_parcels=True) is S.DELIVERED
    assert kind_to_announce(announced_status(S.COMPLETED, True), OUT_FOR_DELIVERY) == "delivered"


def test_a_completed_order_without_parcels_tells_the_customer_nothing():
    assert announced_status(S.COMPLETED, has_parcels=False) is S.COMPLETED
    assert kind_to_announce(announced_status(S.COMPLETED, False), RECEIVED) is None


@pytest.mark.parametrize("status", [s for s in S if s is not S.COMPLETED])
def test_every_other_status_means_what_it_says(status):
    assert announced_status(status, has_parcels=True) is status


def test_a_replaced_tracking_number_is_news_until_the_order_arrives():
    kind = tracking_changed_kind("1Z999AA10123456784")
    assert base_kind(kind) == "tracking_changed"
    assert kind != tracking_changed_kind("1Z999AA10123450000"), "one per new number"
    assert len(kind) <= 32, "fits the outbox's kind column"
    for status in (S.SHIPPED, S.IN_TRANSIT, S.EXCEPTION, S.OUT_FOR_DELIVERY):
        assert not is_stale(kind, status)
    for status in (S.DELIVERED, S.COMPLETED, S.RETURNED, S.CANCELLED, S.REFUNDED):
        assert is_stale(kind, status)


# ---------------------------------------------------------------------------------------------
# A parcel's news (issue 9): told per parcel, stale once that parcel has moved on

P = ShipmentStatus
T0 = datetime(2026, 11, 4, 14, tzinfo=UTC)


def _parcel(status=P.IN_TRANSIT, attempts=(), **fields) -> ShipmentState:
    at = max(attempts, default=T0)
    return ShipmentState(key="f:1", status=status, status_at=at, failed_attempts=attempts, **fields)


PARCEL_NEWS = {
    P.LABEL_CREATED: "shipped",
    P.IN_TRANSIT: "shipped",
    P.OUT_FOR_DELIVERY: "out_for_delivery",
    P.DELIVERY_FAILED: "delivery_failed",
    P.EXCEPTION: "exception",
    P.AVAILABLE_FOR_PICKUP: "available_for_pickup",
    P.DELIVERED: "delivered",
    P.RETURNED: "returned_to_sender",
    P.CANCELLED: None,
    P.UNKNOWN: None,
}


def test_every_parcel_status_is_covered_by_these_tests():
    assert set(PARCEL_NEWS) == set(ShipmentStatus)


@pytest.mark.parametrize(("status", "kind"), PARCEL_NEWS.items())
def test_each_parcel_status_is_its_own_news(status, kind):
    attempts = (T0,) if status is P.DELIVERY_FAILED else ()
    assert parcel_kind(_parcel(status, attempts)) == kind


def test_a_parcel_the_platform_cancelled_or_removed_has_no_news():
    assert parcel_kind(_parcel(P.DELIVERED, cancelled=True)) is None
    assert parcel_kind(_parcel(P.DELIVERED, removed=True)) is None


def test_each_later_failed_attempt_is_news_and_two_reports_of_one_attempt_are_one():
    same = (T0, T0 + timedelta(minutes=4))
    assert parcel_kind(_parcel(P.DELIVERY_FAILED, same)) == "delivery_failed"
    second = (*same, T0 + timedelta(days=1))
    assert parcel_kind(_parcel(P.DELIVERY_FAILED, second)) == "delivery_failed_again:2"
    third = (*second, T0 + timedelta(days=2))
    assert parcel_kind(_parcel(P.DELIVERY_FAILED, third)) == "delivery_failed_again:3"


def test_an_attempt_reported_after_the_status_it_is_counted_at_does_not_count():
    parcel = replace(_parcel(P.DELIVERY_FAILED, (T0, T0 + timedelta(days=1))), status_at=T0)
    assert parcel_kind(parcel) == "delivery_failed"


@pytest.mark.parametrize("status", [s for s, kind in PARCEL_NEWS.items() if kind])
def test_a_parcels_news_is_true_while_the_parcel_stands_there(status):
    attempts = (T0,) if status is P.DELIVERY_FAILED else ()
    parcel = _parcel(status, attempts)
    assert not parcel_news_is_stale(PARCEL_NEWS[status], S.IN_TRANSIT, parcel)
    for final in (S.CANCELLED, S.REFUNDED):
        assert parcel_news_is_stale(PARCEL_NEWS[status], final, parcel)


def test_no_out_for_delivery_or_shipped_for_a_parcel_already_delivered():
    delivered = _parcel(P.DELIVERED)
    assert parcel_news_is_stale("out_for_delivery", S.IN_TRANSIT, delivered)
    assert parcel_news_is_stale("shipped", S.IN_TRANSIT, delivered)
    assert not parcel_news_is_stale("delivered", S.IN_TRANSIT, delivered)


def test_a_first_attempts_news_is_stale_once_a_second_has_failed():
    twice = _parcel(P.DELIVERY_FAILED, (T0, T0 + timedelta(days=1)))
    assert parcel_news_is_stale("delivery_failed", S.DELIVERY_FAILED, twice)
    assert not parcel_news_is_stale("delivery_failed_again:2", S.DELIVERY_FAILED, twice)


def test_a_parcel_gone_from_the_order_has_no_news_left():
    assert parcel_news_is_stale("shipped", S.SHIPPED, None)
    assert parcel_news_is_stale("shipped", S.SHIPPED, _parcel(cancelled=True))


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("order_cancelled", S.CANCELLED),
        ("order_refunded", S.REFUNDED),
        ("order_on_hold", S.ON_HOLD),
    ],
)
def test_the_orders_own_news_is_true_only_while_the_order_stands_there(kind, status):
    assert order_kind(status) == kind
    assert not is_stale(kind, status)
    assert is_stale(kind, S.PROCESSING)


def test_a_parcels_news_never_goes_back_below_where_its_reports_went():
    was_out = _parcel(P.OUT_FOR_DELIVERY, furthest_stage=4)
    back = _parcel(P.IN_TRANSIT, furthest_stage=4)
    assert parcel_news(was_out, back) is None, "a failed attempt put it back: no 'shipped'"
    assert parcel_news(was_out, _parcel(P.DELIVERED, furthest_stage=5)) == "delivered"
    assert parcel_news(None, _parcel(P.IN_TRANSIT)) == "shipped"


def test_a_renumbered_parcel_is_a_new_parcel_to_the_outbox_and_its_old_news_is_stale():
    old = _parcel(P.OUT_FOR_DELIVERY, tracking_number="9400111899223344556677")
    new = replace(old, tracking_number="9400111899223344559999", relabels=1)
    assert parcel_ref(old) == "f:1" and parcel_ref(new) == "f:1#1"
    assert parcel_key(parcel_ref(new)) == "f:1" == parcel_key("f:1")

    class Order:
        def shipment(self, key):
            return new if key == "f:1" else None

    assert find_parcel(Order(), parcel_ref(new)) is new
    assert find_parcel(Order(), parcel_ref(old)) is None, "the old number's news is moot"


def test_a_parcel_that_gets_its_first_number_is_the_same_parcel():
    without = _parcel(P.LABEL_CREATED, tracking_number=None)
    assert parcel_ref(without) == parcel_ref(replace(without, tracking_number="1Z999"))
