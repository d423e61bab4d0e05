"""The tracking page as data: the words a customer reads, the five steps with detours, the
timeline in the customer's zone, and estimates learned from the shop's deliveries."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ordertrack.lanes import LaneEstimate, Learned
from ordertrack.lifecycle import OrderState, ShipmentState
from ordertrack.statuses import OrderStatus, ShipmentStatus
from ordertrack.tracking_page.page import (
    DETOURS,
    STATUS_WORDS,
    HistoryEntry,
    brand_colors,
    build,
    estimate,
    steps,
    timeline,
)

NEW_YORK = ZoneInfo("America/New_York")
T0 = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


def test_every_order_status_has_customer_words_and_none_says_pending():
    assert set(STATUS_WORDS) == set(OrderStatus)
    for headline, explanation in STATUS_WORDS.values():
        assert headline and explanation
        assert "pending" not in (headline + explanation).lower()
        assert "_" not in headline


@pytest.mark.parametrize(
    ("status", "headline"),
    [
        (OrderStatus.IN_TRANSIT, "On its way"),
        (OrderStatus.OUT_FOR_DELIVERY, "Out for delivery today"),
        (OrderStatus.DELIVERED, "Delivered"),
        (OrderStatus.AVAILABLE_FOR_PICKUP, "Ready for pickup"),
    ],
)
def test_main_statuses_read_as_a_customer_says_them(status, headline):
    assert STATUS_WORDS[status][0] == headline


def test_failed_delivery_explains_that_the_carrier_tried():
    assert "tried to deliver" in STATUS_WORDS[OrderStatus.DELIVERY_FAILED][1]


def _current(result):
    return [(s.label, s.detour) for s in result if s.state == "current"]


@pytest.mark.parametrize("status", list(OrderStatus))
def test_every_status_marks_exactly_one_current_step_and_detours_name_themselves(status):
    result = steps(status, furthest_stage=3)
    assert [s.label for s in result] == [
        "Received",
        "Processing",
        "Shipped",
        "Delivered",
        "Completed",
    ]
    (current,) = _current(result)
    assert (current[1] is not None) == (status in DETOURS)
    index = [s.state for s in result].index("current")
    assert all(s.state == "done" for s in result[:index])
    assert all(s.state == "todo" for s in result[index + 1 :])


@pytest.mark.parametrize(
    ("status", "current"),
    [
        (OrderStatus.RECEIVED, ("Received", None)),
        (OrderStatus.ON_HOLD, ("Processing", "On hold")),
        (OrderStatus.OUT_FOR_DELIVERY, ("Shipped", None)),
        (OrderStatus.DELIVERY_FAILED, ("Shipped", "Delivery attempt failed")),
        (OrderStatus.EXCEPTION, ("Shipped", "Delayed")),
        (OrderStatus.RETURNED, ("Shipped", "Returned to sender")),
        (OrderStatus.DELIVERED, ("Delivered", None)),
        (OrderStatus.COMPLETED, ("Completed", None)),
    ],
)
def test_detours_show_at_the_step_where_they_happen(status, current):
    assert _current(steps(status, furthest_stage=0)) == [current]


def test_a_cancelled_order_stops_at_the_step_it_had_reached():
    assert _current(steps(OrderStatus.CANCELLED, furthest_stage=1)) == [("Processing", "Cancelled")]
    assert _current(steps(OrderStatus.REFUNDED, furthest_stage=5)) == [("Delivered", "Refunded")]


def test_timeline_is_newest_first_without_repeats_in_the_customers_zone():
    entries = [
        HistoryEntry(T0 - timedelta(hours=5), "order", "received"),
        HistoryEntry(T0, "tracking", "in_transit", "f:1"),
        HistoryEntry(T0, "tracking", "in_transit", "f:1"),  # platform and carrier, one scan
        HistoryEntry(T0 + timedelta(hours=1), "tracking", "unknown", "f:1"),
        HistoryEntry(T0 + timedelta(days=1), "tracking", "delivered", "f:1"),
    ]
    lines = timeline(entries, NEW_YORK, {})
    assert [line.text for line in lines] == ["Delivered", "On its way", "Order placed"]
    assert lines[1].when == "Mon 2 Nov 2026, 09:00 EST"  # 14:00 UTC
    assert lines[1].at == T0


def test_timeline_names_the_parcel_when_there_are_several():
    entries = [
        HistoryEntry(T0, "fulfillment", "fulfilled", "f:1"),
        HistoryEntry(T0, "fulfillment", "fulfilled", "f:2"),
    ]
    texts = {line.text for line in timeline(entries, NEW_YORK, {"f:1": "USPS", "f:2": "UPS"})}
    assert texts == {"Shipped (USPS)", "Shipped (UPS)"}


def _parcel(**changes) -> ShipmentState:
    defaults = {"key": "f:1", "carrier": "usps", "tracking_number": "9400", "labelled_at": T0}
    return ShipmentState(**(defaults | changes))


def _learned(first: date, last: date) -> Learned:
    return Learned(first, last, LaneEstimate(2, 4, 9, "region"), scanned=True)


def test_the_carriers_date_wins_over_a_learned_range():
    parcel = _parcel(status=ShipmentStatus.IN_TRANSIT, est_delivery=date(2026, 11, 5))
    words, note = estimate(
        parcel, _learned(date(2026, 11, 4), date(2026, 11, 6)), date(2026, 11, 3)
    )
    assert (words, note) == ("Expected Thursday 5 November", None)


def test_without_a_carrier_date_the_learned_range_is_shown_and_labelled():
    parcel = _parcel(status=ShipmentStatus.IN_TRANSIT)
    words, note = estimate(
        parcel, _learned(date(2026, 11, 4), date(2026, 11, 6)), date(2026, 11, 3)
    )
    assert words == "Expected between Wednesday 4 November and Friday 6 November"
    assert note == "estimated from past deliveries with USPS"


def test_once_the_carriers_date_has_passed_a_learned_range_still_ahead_is_shown():
    parcel = _parcel(status=ShipmentStatus.IN_TRANSIT, est_delivery=date(2026, 11, 2))
    ahead = _learned(date(2026, 11, 4), date(2026, 11, 6))
    words, note = estimate(parcel, ahead, date(2026, 11, 3))
    assert words == "Expected between Wednesday 4 November and Friday 6 November"
    assert note == "estimated from past deliveries with USPS"
    # Nothing newer to say: the carrier's date stays, as it was.
    over = _learned(date(2026, 10, 28), date(2026, 10, 30))
    assert estimate(parcel, over, date(2026, 11, 3)) == ("Expected Monday 2 November", None)


def test_no_estimate_once_delivered_without_data_or_when_the_range_has_passed():
    delivered = _parcel(status=ShipmentStatus.DELIVERED, est_delivery=date(2026, 11, 5))
    assert estimate(delivered, None, date(2026, 11, 3)) == (None, None)
    on_way = _parcel(status=ShipmentStatus.IN_TRANSIT)
    assert estimate(on_way, None, date(2026, 11, 3)) == (None, None)
    passed = _learned(date(2026, 11, 4), date(2026, 11, 6))
    assert estimate(on_way, passed, date(2026, 12, 1)) == (None, None)


def test_build_shows_live_parcels_with_carrier_links_and_progress():
    state = OrderState(
        status=OrderStatus.IN_TRANSIT,
        furthest_stage=3,
        name="#1042",
        shipments=(
            _parcel(status=ShipmentStatus.DELIVERED),
            _parcel(
                key="f:2", carrier="UPS", tracking_number="1Z9", status=ShipmentStatus.IN_TRANSIT
            ),
            _parcel(key="f:3", carrier="UPS", tracking_number="1Z8", cancelled=True),
        ),
    )
    view = build(state, [], zone=NEW_YORK, updated_at=T0, today=date(2026, 11, 3))
    assert view.headline == "On its way"
    assert view.progress == "1 of 2 delivered"
    assert [(s.carrier, s.tracking_number) for s in view.shipments] == [
        ("USPS", "9400"),
        ("UPS", "1Z9"),
    ]
    assert view.shipments[0].link == "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("#FFF", ("#fff", "#000000")),
        ("#1f4e79", ("#1f4e79", "#ffffff")),
        ("#ffeb3b", ("#ffeb3b", "#000000")),
        ("red;}</style><script>", ("#1f4e79", "#ffffff")),
        ("#12345", ("#1f4e79", "#ffffff")),
        ("", ("#1f4e79", "#ffffff")),
    ],
)
def test_brand_colour_is_validated_and_text_contrasts_with_it(value, expected):
    assert brand_colors(value) == expected
