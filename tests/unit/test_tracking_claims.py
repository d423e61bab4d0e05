"""Whose parcel a carrier event is about, and what a replaced tracking number does, pure:
carrier names across sources, the reuse window, and relabelling."""

from datetime import UTC, date, datetime, timedelta

import pytest

from ordertrack import lifecycle
from ordertrack.facts import (
    FulfillmentFact,
    OrderFact,
    ShipmentRef,
    TrackingFact,
    carrier_code,
    carriers_differ,
)
from ordertrack.lifecycle import LABEL_LEAD, TRACKING_NUMBER_REUSE, OrderState, ShipmentState
from ordertrack.statuses import ShipmentStatus

NUMBER = "1Z999AA10123456784"
FULFILLED = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


def _shipment(key="f:1", carrier="UPS", fulfilled_at=FULFILLED, number=NUMBER, **more):
    return ShipmentState(
        key=key,
        carrier=carrier,
        tracking_number=number,
        fulfilled_at=fulfilled_at,
        labelled_at=fulfilled_at,
        **more,
    )


def _ref(carrier: str | None = "ups", number: str = NUMBER) -> ShipmentRef:
    return ShipmentRef(tracking_number=number, carrier=carrier)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("UPS", "ups"),
        ("United Parcel Service", "ups"),
        ("ups", "ups"),
        ("FedEx", "fedex"),
        ("Federal Express", "fedex"),
        ("fedex_ground", "fedex"),
        ("USPS", "usps"),
        ("United States Postal Service", "usps"),
        ("dhl_express", "dhl"),
        ("DHL Express", "dhl"),
        ("Canada Post", "canadapost"),
        ("canada-post", "canadapost"),
        ("", None),
        (None, None),
    ],
)
def test_every_source_spelling_of_a_carrier_has_one_code(name, code):
    assert carrier_code(name) == code


def test_carriers_differ_only_when_both_are_known_carriers_and_unequal():
    assert carriers_differ("UPS", "FedEx")
    assert not carriers_differ("UPS", "ups")
    assert not carriers_differ(None, "fedex") and not carriers_differ("FedEx", None)
    # A name that may be another spelling of the same carrier never keeps a report away.
    assert not carriers_differ("DHL US", "dhl")
    assert not carriers_differ("Other", "UPS")


def test_an_event_within_the_numbers_life_is_claimed():
    assert lifecycle.claims(_shipment(), _ref(), FULFILLED + timedelta(days=3))
    assert lifecycle.claims(_shipment(), _ref(carrier=None), FULFILLED + timedelta(days=3))


def test_a_label_scan_shortly_before_the_fulfillment_is_claimed():
    assert lifecycle.claims(_shipment(), _ref(), FULFILLED - timedelta(hours=5))
    assert not lifecycle.claims(_shipment(), _ref(), FULFILLED - LABEL_LEAD - timedelta(days=1))


def test_an_event_after_the_reuse_window_is_not_claimed():
    late = FULFILLED + TRACKING_NUMBER_REUSE + timedelta(days=1)
    assert not lifecycle.claims(_shipment(), _ref(), late)


def test_another_carriers_event_or_number_is_not_claimed():
    at = FULFILLED + timedelta(days=1)
    assert not lifecycle.claims(_shipment(), _ref(carrier="FedEx"), at)
    assert not lifecycle.claims(_shipment(), _ref(number="1Z000"), at)


def test_of_two_orders_with_a_reused_number_the_one_that_had_it_at_the_time_wins():
    first = _shipment("first")
    second = _shipment("second", fulfilled_at=FULFILLED + timedelta(days=100))
    shipments = [first, second]
    assert lifecycle.best_claim(shipments, _ref(), FULFILLED + timedelta(days=2)) is first
    assert lifecycle.best_claim(shipments, _ref(), FULFILLED + timedelta(days=101)) is second
    # Between: a label scan a day before the second fulfillment belongs to the second parcel
    # only if the first parcel's window is over; here both claim it, and the one fulfilled
    # most recently before the event (the first) wins.
    assert lifecycle.best_claim(shipments, _ref(), FULFILLED + timedelta(days=99)) is first


def test_no_claimant_parks_the_event():
    far = FULFILLED + TRACKING_NUMBER_REUSE * 2
    assert lifecycle.best_claim([_shipment()], _ref(), far) is None


def _fulfillment(number: str, at: datetime) -> FulfillmentFact:
    return FulfillmentFact("shopify", "1", "1", at, "UPS", number)


def _tracking(status: ShipmentStatus, at: datetime, number: str = NUMBER) -> TrackingFact:
    return TrackingFact(_ref(number=number), status, at, status.value)


def _after(state: OrderState, *facts) -> OrderState:
    return lifecycle.apply(state, list(facts)).state


def test_a_replaced_number_starts_the_parcel_again_from_its_label():
    state = lifecycle.apply(OrderState(), [_fulfillment(NUMBER, FULFILLED)]).state
    state = _after(state, _tracking(ShipmentStatus.EXCEPTION, FULFILLED + timedelta(1)))
    assert state.shipments[0].status is ShipmentStatus.EXCEPTION

    replaced = lifecycle.apply(state, [_fulfillment("1ZNEW", FULFILLED + timedelta(days=2))])
    (parcel,) = replaced.state.shipments
    assert (parcel.tracking_number, parcel.status, parcel.status_at) == (
        "1ZNEW",
        ShipmentStatus.LABEL_CREATED,
        None,
    )
    assert lifecycle.replaced_tracking_numbers(state, replaced.state) == ["1ZNEW"]


def test_an_older_report_of_the_old_number_does_not_undo_the_replacement():
    state = lifecycle.apply(OrderState(), [_fulfillment("1ZNEW", FULFILLED + timedelta(1))]).state
    again = lifecycle.apply(state, [_fulfillment(NUMBER, FULFILLED)]).state
    assert again.shipments[0].tracking_number == "1ZNEW"
    assert lifecycle.replaced_tracking_numbers(state, again) == []


def test_the_same_fulfillment_again_replaces_nothing():
    fact = _fulfillment(NUMBER, FULFILLED)
    state = lifecycle.apply(OrderState(), [fact]).state
    state = _after(state, _tracking(ShipmentStatus.IN_TRANSIT, FULFILLED + timedelta(1)))
    again = lifecycle.apply(state, [fact]).state
    assert again == state
    assert lifecycle.replaced_tracking_numbers(state, again) == []


def test_a_report_that_says_nothing_of_the_parcel_moves_only_its_estimate():
    state = _after(OrderState(), _fulfillment(NUMBER, FULFILLED))
    state = _after(state, _tracking(ShipmentStatus.IN_TRANSIT, FULFILLED + timedelta(1)))
    estimate = TrackingFact(
        _ref(), None, FULFILLED + timedelta(2), "SU", est_delivery=date(2026, 11, 9)
    )
    (parcel,) = _after(state, estimate).shipments
    assert (parcel.status, parcel.raw_status) == (ShipmentStatus.IN_TRANSIT, "in_transit")
    assert parcel.est_delivery == date(2026, 11, 9)


def test_a_live_parcel_is_preferred_to_a_cancelled_one_with_the_same_number():
    cancelled = _shipment("duplicate", fulfilled_at=FULFILLED + timedelta(hours=2), cancelled=True)
    live = _shipment("real")
    at = FULFILLED + timedelta(days=1)
    assert lifecycle.best_claim([cancelled, live], _ref(), at) is live
    assert lifecycle.best_claim([cancelled], _ref(), at) is cancelled, "kept in its history"


def test_re_reports_of_a_parcel_do_not_move_the_start_of_its_numbers_life():
    first = _fulfillment(NUMBER, FULFILLED)
    again = _fulfillment(NUMBER, FULFILLED + timedelta(days=40))
    scan = _tracking(ShipmentStatus.DELIVERED, FULFILLED + timedelta(days=5))
    for facts in ([first, scan, again], [first, again, scan], [again, first, scan]):
        state = OrderState()
        for fact in facts:
            state = _after(state, fact)
        (parcel,) = state.shipments
        assert parcel.labelled_at == FULFILLED
        assert parcel.status is ShipmentStatus.DELIVERED, facts


def _listed(at: datetime, *ids: str) -> OrderFact:
    return OrderFact("woocommerce", "1", at, fulfillment_ids=ids)


def _parcel(fulfillment_id: str, number: str, at: datetime) -> FulfillmentFact:
    return FulfillmentFact("woocommerce", "1", fulfillment_id, at, "USPS", number)


def test_a_parcel_missing_from_the_platforms_newest_list_is_removed_in_any_order():
    old = _parcel("a", "9400OLD", FULFILLED)
    new = _parcel("b", "9400NEW", FULFILLED + timedelta(hours=1))
    listed = _listed(FULFILLED + timedelta(hours=1), "b")
    endings = set()
    for facts in ([old, new, listed], [listed, new, old], [new, listed, old], [old, listed, new]):
        state = OrderState()
        for fact in facts:
            state = _after(state, fact)
        endings.add(tuple((s.key, s.live) for s in sorted(state.shipments, key=lambda s: s.key)))
    assert endings == {(("f:a", False), ("f:b", True))}


def test_removing_a_parcel_and_adding_another_in_one_update_is_a_replaced_number():
    before = _after(OrderState(), _listed(FULFILLED, "a"), _parcel("a", "9400OLD", FULFILLED))
    at = FULFILLED + timedelta(hours=1)
    after = _after(before, _listed(at, "b"), _parcel("b", "9400NEW", at))
    assert lifecycle.replaced_tracking_numbers(before, after) == ["9400NEW"]
    second = _after(after, _listed(at + timedelta(1), "b", "c"), _parcel("c", "9400MORE", at))
    assert lifecycle.replaced_tracking_numbers(after, second) == [], "an added parcel is not"
