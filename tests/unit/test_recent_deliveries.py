"""The sender's shared memory of each carrier's recent deliveries (store/estimates.py): read
once per carrier and window while fresh, read again once `ttl` has passed."""

from ordertrack.lanes import Delivery, Lane
from ordertrack.store.estimates import RecentDeliveries


class Loader:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> list[Delivery]:
        self.calls += 1
        return [Delivery(Lane.of("US", "NY", "10001"), self.calls)]


def test_a_carriers_deliveries_are_read_once_while_fresh_and_kept_apart_by_carrier_and_window():
    shared, usps, ups = RecentDeliveries(ttl=60), Loader(), Loader()
    first = shared.get(("usps", 90), usps)
    assert shared.get(("usps", 90), usps) is first
    shared.get(("ups", 90), ups)
    shared.get(("usps", 30), usps)
    assert (usps.calls, ups.calls) == (2, 1)


def test_deliveries_older_than_ttl_are_read_again():
    shared, usps = RecentDeliveries(ttl=0), Loader()
    assert shared.get(("usps", 90), usps)[0].days == 1
    assert shared.get(("usps", 90), usps)[0].days == 2
