"""The delay check and the workers on one order, on PostgreSQL (row locks): an order a worker
holds is skipped and checked the next time; an event applied between the check's unlocked
read and its lock is seen, and the check evaluates the order again before writing."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select

from ordertrack import delay_check
from ordertrack.store.models import Order
from tests.support.webhooks import ORDER_ID, easypost, shopify

#: The parcel's last scan: Tuesday 3 November 2026; no movement from Monday 9 November
#: 08:00 (four business days), past its estimate (the 4th) from the 5th.
MONDAY = datetime(2026, 11, 9, 12, 0, tzinfo=UTC)


@pytest.fixture
def shop(postgres_url, base_env, smtp, monkeypatch):
    from tests.support.harness import start_service

    monkeypatch.setenv("DATABASE_URL", postgres_url)
    service = start_service()
    for request in (
        shopify("orders_create"),
        shopify("fulfillments_create"),
        easypost("tracker_updated__in_transit"),
    ):
        assert service.post(request).status_code == 202
        service.drain()
    yield service
    service.stop()


def check(service) -> delay_check.Checked:
    return delay_check.check_all(service.runtime.sessions, service.runtime.settings, MONDAY)


def kinds(service) -> list[str]:
    return [flag["kind"] for flag in service.order(ORDER_ID)["flags"]]


def test_an_order_a_worker_holds_is_skipped_and_checked_the_next_time(shop):
    with shop.runtime.sessions.begin() as worker:
        worker.execute(select(Order.id).with_for_update())  # as a worker applying an event
        checked = check(shop)
        assert checked.orders == 1 and checked.flagged == [] and checked.notifications == []
    assert kinds(shop) == []
    assert sorted(change.kind for change in check(shop).flagged) == [
        "no_movement",
        "past_estimate",
    ]


def test_an_event_applied_between_the_read_and_the_lock_is_evaluated_again(shop):
    """The carrier's next scan lands after the check read the parcel (in transit, unmoved
    for four business days) and before it locked the order: no_movement is not raised."""
    engine = shop.runtime.sessions.kw["bind"]
    landed = []

    def scan_lands(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("SELECT shipments.order_id, shipments.key") and not landed:
            landed.append(True)
            assert shop.post(easypost("tracker_updated__out_for_delivery")).status_code == 202
            shop.drain()

    event.listen(engine, "after_cursor_execute", scan_lands)
    try:
        checked = check(shop)
    finally:
        event.remove(engine, "after_cursor_execute", scan_lands)
    assert landed
    assert [change.kind for change in checked.flagged] == ["past_estimate"]
    assert kinds(shop) == ["past_estimate"]
