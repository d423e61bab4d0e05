"""Learned estimates by lane, pure: nearest-rank percentiles, the fallback from postcode
prefix to the carrier alone, business-day dates, and the accuracy count, by hand."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordertrack import lanes
from ordertrack.business_days import Calendar
from ordertrack.lane_accuracy import accuracy
from ordertrack.lanes import Delivery, Lane, LaneEstimate, Past

WEEKDAYS = Calendar()  # Mon-Fri, UTC
NYC = Lane.of("us", "ny", "10001")
NYC_OTHER = Lane.of("US", "NY", "12401")
CA = Lane.of("US", "CA", "94103")
DE = Lane.of("DE", None, "10115")


def test_percentiles_are_nearest_rank():
    days = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]  # sorted: 1 1 2 3 3 4 5 5 6 9
    assert lanes.percentile(days, 0.5) == 3  # the 5th of 10
    assert lanes.percentile(days, 0.9) == 6  # the 9th of 10
    assert lanes.percentile([7], 0.9) == 7
    with pytest.raises(ValueError):
        lanes.percentile([], 0.5)


def test_postcode_prefix_ignores_case_and_spaces():
    assert lanes.postcode_prefix(" sw1a 1aa") == "SW1"
    assert lanes.postcode_prefix("1 2") is None and lanes.postcode_prefix(None) is None
    assert Lane("US", "NY", "100") == NYC


def _many(lane: Lane, days: list[int]) -> list[Delivery]:
    return [Delivery(lane, d) for d in days]


def test_the_narrowest_lane_with_enough_deliveries_wins():
    history = _many(NYC, [1, 2, 2, 3, 5]) + _many(NYC_OTHER, [4] * 3) + _many(CA, [6] * 5)
    assert lanes.estimate(NYC, history) == LaneEstimate(2, 5, 5, "postcode")
    # 12401: three of its own, eight in New York: region; p50 the 4th of 8, p90 the 8th.
    assert lanes.estimate(NYC_OTHER, history) == LaneEstimate(3, 5, 8, "region")
    # Texas has none of its own: the country's 13.
    texas = Lane.of("US", "TX", "73301")
    assert lanes.estimate(texas, history) == LaneEstimate(4, 6, 13, "country")
    # Germany has none, nor does a parcel without a country: the carrier's 13.
    assert lanes.estimate(DE, history) == LaneEstimate(4, 6, 13, "carrier")
    assert lanes.estimate(Lane(), history).basis == "carrier"


def test_too_few_deliveries_anywhere_learn_nothing():
    assert lanes.estimate(NYC, _many(NYC, [2] * 4)) is None
    assert lanes.estimate(NYC, _many(NYC, [2] * 4), min_samples=4) == LaneEstimate(
        2, 2, 4, "postcode"
    )


def test_transit_days_and_dates_count_business_days():
    friday = datetime(2026, 5, 8, 15, tzinfo=UTC)
    assert lanes.transit_days(WEEKDAYS, friday, friday + timedelta(days=3)) == 1  # Mon 15:00
    assert lanes.transit_days(WEEKDAYS, friday, friday + timedelta(hours=2)) == 0
    found = LaneEstimate(2, 4, 9, "region")
    # Friday's scan: p50 is Tuesday 12, p90 Thursday 14 May.
    assert lanes.dates(WEEKDAYS, friday, found) == (date(2026, 5, 12), date(2026, 5, 14))
    assert lanes.due(WEEKDAYS, date(2026, 5, 14)) == datetime(2026, 5, 15, tzinfo=UTC)
    holiday = Calendar(dates_off=frozenset({date(2026, 5, 12)}))
    assert lanes.dates(holiday, friday, found) == (date(2026, 5, 13), date(2026, 5, 15))


def test_learned_dates_count_from_now_before_the_first_scan():
    found = LaneEstimate(1, 2, 5, "country")
    monday = datetime(2026, 5, 11, 9, tzinfo=UTC)
    learned = lanes.learned(WEEKDAYS, found, None, monday)
    assert (learned.first, learned.last, learned.scanned) == (
        date(2026, 5, 12),
        date(2026, 5, 13),
        False,
    )
    assert learned.document() == {
        "from": "2026-05-12",
        "to": "2026-05-13",
        "basis": "country",
        "samples": 5,
    }


def test_accuracy_holds_each_parcel_to_the_estimate_it_had_at_its_first_scan():
    start = datetime(2026, 3, 2, 10, tzinfo=UTC)  # a Monday
    # Five teachers, each 2 business days (Mon -> Wed): p50 = p90 = 2.
    teachers = [
        Past("ups", NYC, start + timedelta(weeks=i), start + timedelta(weeks=i, days=2))
        for i in range(5)
    ]
    later = start + timedelta(weeks=6)
    on_time = Past("ups", NYC, later, later + timedelta(days=2, hours=13))  # Wed 23:00: by p90
    late = Past("ups", NYC, later, later + timedelta(days=3))  # Thursday
    other_carrier = Past("dhl", NYC, later, later + timedelta(days=9))  # nothing to learn from
    parcels = [*teachers, on_time, late, other_carrier]
    # The teachers had fewer than five before them: not counted.
    assert accuracy(WEEKDAYS, parcels) == (1, 2)
    assert accuracy(WEEKDAYS, parcels, judged_from=later + timedelta(days=3)) == (0, 1)
    assert accuracy(WEEKDAYS, parcels, window_days=7) == (0, 0)


def _judged_one_by_one(calendar, parcels, window_days, min_samples, judged_from, max_samples):
    """The accuracy count written the plain way: every parcel against every delivery."""
    on_time = counted = 0
    for parcel in parcels:
        if judged_from is not None and parcel.delivered_at < judged_from:
            continue
        earlier = sorted(
            (
                other
                for other in parcels
                if other.carrier == parcel.carrier
                and parcel.first_scan - timedelta(days=window_days)
                <= other.delivered_at
                < parcel.first_scan
            ),
            key=lambda other: other.delivered_at,
        )[-max_samples if max_samples else 0 :]
        taught = [
            Delivery(o.lane, lanes.transit_days(calendar, o.first_scan, o.delivered_at))
            for o in earlier
        ]
        found = lanes.estimate(parcel.lane, taught, min_samples)
        if found is not None:
            counted += 1
            last = lanes.dates(calendar, parcel.first_scan, found)[1]
            on_time += parcel.delivered_at < lanes.due(calendar, last)
    return on_time, counted


_START = datetime(2026, 3, 2, tzinfo=UTC)
_parcel = st.builds(
    lambda carrier, lane, scan_hours, transit_hours: Past(
        carrier,
        lane,
        _START + timedelta(hours=scan_hours),
        _START + timedelta(hours=scan_hours + transit_hours),
    ),
    st.sampled_from(["ups", "dhl"]),
    st.sampled_from([NYC, NYC_OTHER, CA, DE, Lane()]),
    st.integers(0, 24 * 60),
    st.integers(1, 24 * 12),
)


@settings(max_examples=150, deadline=None)
@given(
    parcels=st.lists(_parcel, max_size=40),
    window_days=st.sampled_from([7, 20, 90]),
    min_samples=st.integers(1, 5),
    judged_after_days=st.none() | st.integers(0, 60),
    max_samples=st.none() | st.integers(1, 8),
)
def test_the_sliding_accuracy_count_agrees_with_judging_one_by_one(
    parcels, window_days, min_samples, judged_after_days, max_samples
):
    judged_from = None if judged_after_days is None else _START + timedelta(days=judged_after_days)
    options = (window_days, min_samples, judged_from, max_samples)
    assert accuracy(WEEKDAYS, parcels, *options) == _judged_one_by_one(WEEKDAYS, parcels, *options)


def test_the_newest_deliveries_are_all_that_teach_when_capped():
    start = datetime(2026, 3, 2, 10, tzinfo=UTC)  # a Monday
    # Five slow ones (4 days), then five quick ones (1 day): capped at five, only the quick
    # ones teach, and a parcel taking 3 days is late against their p90 of 1.
    slow = [
        Past("ups", NYC, start + timedelta(days=i), start + timedelta(days=i + 6)) for i in range(5)
    ]
    later = start + timedelta(weeks=2)
    quick = [
        Past("ups", NYC, later + timedelta(hours=i), later + timedelta(days=1, hours=i))
        for i in range(5)
    ]
    judged = later + timedelta(weeks=1)
    parcel = Past("ups", NYC, judged, judged + timedelta(days=3))
    assert accuracy(WEEKDAYS, [*slow, *quick, parcel], judged_from=judged) == (1, 1)
    assert accuracy(WEEKDAYS, [*slow, *quick, parcel], judged_from=judged, max_samples=5) == (0, 1)


def test_learned_lanes_lists_every_lane_with_enough_deliveries_widest_first():
    history = _many(NYC, [1, 2, 2, 3, 5]) + _many(NYC_OTHER, [4] * 3) + _many(CA, [6] * 2)
    counted = [(d.lane, d.days, 1) for d in history]
    # The same deliveries counted by lane and days: (lane, days, how many).
    grouped = [(NYC, 1, 1), (NYC, 2, 2), (NYC, 3, 1), (NYC, 5, 1), (NYC_OTHER, 4, 3), (CA, 6, 2)]
    assert lanes.learned_lanes(grouped) == lanes.learned_lanes(counted)
    assert lanes.learned_lanes(counted) == [
        # All ten: 1 2 2 3 4 4 4 5 6 6.
        ((), LaneEstimate(4, 6, 10, "carrier")),
        (("US",), LaneEstimate(4, 6, 10, "country")),
        (("US", "NY"), LaneEstimate(3, 5, 8, "region")),
        (("US", "100"), LaneEstimate(2, 5, 5, "postcode")),
    ]
    assert lanes.learned_lanes(counted, min_samples=3)[-1] == (
        ("US", "124"),
        LaneEstimate(4, 4, 3, "postcode"),
    )


def test_past_estimate_from_a_learned_date_only_after_a_first_scan():
    from ordertrack import delays
    from ordertrack.lifecycle import OrderState, ShipmentState
    from ordertrack.notifications import messages
    from ordertrack.statuses import OrderStatus, ShipmentStatus

    parcel = ShipmentState(key="f:1", carrier="ups", status=ShipmentStatus.IN_TRANSIT)
    state = OrderState(status=OrderStatus.IN_TRANSIT, name="#1", shipments=(parcel,))
    found = LaneEstimate(2, 4, 9, "region")
    scanned = lanes.Learned(date(2026, 5, 12), date(2026, 5, 14), found, scanned=True)
    policy = delays.DelayPolicy()
    before = datetime(2026, 5, 14, 23, 59, tzinfo=UTC)
    after = datetime(2026, 5, 15, 0, 1, tzinfo=UTC)
    learned = {"f:1": scanned}
    assert delays.open_flags(state, None, before, WEEKDAYS, policy, learned) == []
    [flag] = delays.open_flags(state, None, after, WEEKDAYS, policy, learned)
    assert (flag.kind, flag.since) == ("past_estimate", datetime(2026, 5, 15, tzinfo=UTC))
    assert "learned estimate" in flag.detail
    unscanned = {"f:1": lanes.Learned(scanned.first, scanned.last, found, scanned=False)}
    assert delays.open_flags(state, None, after, WEEKDAYS, policy, unscanned) == []
    # The email shows it, labelled, in both languages.
    en = messages.render("shipped", state, "Shop", "en", learned=learned).text
    assert "estimated from our past deliveries" in en
    assert "between Tuesday, 12 May and Thursday, 14 May" in en
    es = messages.render("shipped", state, "Shop", "es", learned=learned).text
    assert "entre el martes, 12 de mayo y el jueves, 14 de mayo" in es
