"""Delay flags, pure: which should be open, with a controlled clock, across weekends and a
holiday."""

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from ordertrack import delays
from ordertrack.business_days import Calendar
from ordertrack.lifecycle import OrderState, ShipmentState
from ordertrack.notifications.policy_file import PolicyError, load_rules
from ordertrack.statuses import OrderStatus, ShipmentStatus

#: Friday 8 May 2026; Monday 11 May is a holiday here.
FRIDAY = datetime(2026, 5, 8, 10, 0, tzinfo=UTC)
CALENDAR = Calendar.build("UTC", (0, 1, 2, 3, 4), (), (date(2026, 5, 11),))
POLICY = delays.DelayPolicy()


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 5, day, hour, 0, tzinfo=UTC)


def flags(state: OrderState, now: datetime, placed_at=FRIDAY, policy=POLICY):
    return [
        (f.kind, f.parcel, f.since)
        for f in delays.open_flags(state, placed_at, now, CALENDAR, policy)
    ]


def in_transit(since: datetime, **changes) -> OrderState:
    parcel = ShipmentState(
        key="f:1",
        carrier="UPS",
        tracking_number="1Z1",
        status=ShipmentStatus.IN_TRANSIT,
        status_at=since,
        labelled_at=since,
    )
    return OrderState(status=OrderStatus.IN_TRANSIT, shipments=(replace(parcel, **changes),))


def test_not_shipped_waits_out_the_weekend_and_the_holiday():
    state = OrderState(status=OrderStatus.PROCESSING)
    # Friday 10:00 + 2 business days, Monday off: Wednesday 10:00.
    assert flags(state, at(13, 9)) == []
    assert flags(state, at(13, 10)) == [("not_shipped", "", at(13, 10))]


def test_not_shipped_clears_once_the_order_ships():
    shipped = in_transit(at(13, 11))
    assert "not_shipped" not in [kind for kind, _, _ in flags(shipped, at(14))]


def test_no_movement_after_four_business_days_without_a_scan():
    state = in_transit(FRIDAY)
    # Fri -> Tue, Wed, Thu, Fri (Monday a holiday): late from Friday 15 May 10:00.
    assert flags(state, at(15, 9)) == []
    assert flags(state, at(15, 10)) == [("no_movement", "f:1", at(15, 10))]
    # A new scan moves the deadline: nothing open.
    assert flags(in_transit(at(14)), at(15, 10)) == []


def test_no_first_scan_for_a_label_the_carrier_never_scanned():
    state = in_transit(FRIDAY, status=ShipmentStatus.LABEL_CREATED, status_at=None)
    assert flags(state, at(13, 10)) == [("no_first_scan", "f:1", at(13, 10))]


def test_past_estimate_from_the_end_of_the_estimated_day_in_the_shops_zone():
    state = in_transit(at(14), est_delivery=date(2026, 5, 14))
    assert flags(state, at(14, 23)) == []
    assert flags(state, at(15, 0)) == [("past_estimate", "f:1", at(15, 0))]
    delivered = in_transit(at(14), est_delivery=date(2026, 5, 14), status=ShipmentStatus.DELIVERED)
    assert flags(replace(delivered, status=OrderStatus.DELIVERED), at(20)) == []


def test_pickup_waiting_counts_calendar_days():
    state = in_transit(FRIDAY, status=ShipmentStatus.AVAILABLE_FOR_PICKUP)
    assert flags(state, at(13, 10)) == [("pickup_waiting", "f:1", at(13, 10))]


def test_an_exception_without_progress():
    state = in_transit(FRIDAY, status=ShipmentStatus.EXCEPTION, detail="customs")
    [flag] = delays.open_flags(state, FRIDAY, at(13, 10), CALENDAR, POLICY)
    assert (flag.kind, flag.since) == ("exception_open", at(13, 10))
    assert "customs" in flag.detail


def test_a_cancelled_order_is_never_late():
    state = replace(in_transit(FRIDAY), status=OrderStatus.CANCELLED)
    assert flags(state, at(30)) == []


def test_a_carriers_own_thresholds_from_the_policy_file(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text(
        '[channels.email]\nkinds = ["delayed"]\n'
        "[delays]\nno_movement_days = 4\n[delays.carriers.ups]\nno_movement_days = 1\n"
    )
    policy = load_rules(str(path)).delay_policy
    assert policy.for_carrier("UPS").no_movement_days == 1
    assert policy.for_carrier("FedEx").no_movement_days == 4
    assert flags(in_transit(FRIDAY), at(12, 10), policy=policy) == [
        ("no_movement", "f:1", at(12, 10))
    ]


def test_sla_settings_override_the_files_defaults():
    policy = load_rules(None, sla_days={"ship_days": 5}).delay_policy
    assert policy.defaults.ship_days == 5
    assert policy.tell_customer == {"no_movement", "past_estimate"}


@pytest.mark.parametrize(
    "table", ['tell_customer = ["late"]', "no_movement_days = -1", "speed = 3"]
)
def test_a_bad_delays_table_stops_start_up(tmp_path, table):
    path = tmp_path / "policy.toml"
    path.write_text(f"[delays]\n{table}\n")
    with pytest.raises(PolicyError, match="delays"):
        load_rules(str(path))


def test_compare_opens_the_new_and_clears_the_gone():
    flag = delays.Flag("no_movement", "f:1", FRIDAY, "")
    changes = delays.compare([flag], {("f:1", "no_movement"): 7, ("", "not_shipped"): 8})
    assert changes.to_open == [] and changes.to_clear == [8]
    assert delays.compare([flag], {}).to_open == [flag]
