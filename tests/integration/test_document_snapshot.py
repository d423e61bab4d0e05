"""An order's document is one snapshot (issue 13, defect 11), on PostgreSQL: the API and the
tracking page read an order in several queries, and an event applied between two of them
must show in all of the document or in none of it. Under READ COMMITTED each query saw its
own moment, and a story read back "out for delivery" beside a history already ending in
"delivered".

The interleaving is made deterministic: right after the reader's first query, the next
carrier event is posted and applied by the worker threads (the whole pipeline, committed),
and only then does the reader go on."""

import re
import threading
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from ordertrack.notifications.links import tracking_token
from ordertrack.store.models import Order
from tests.support.harness import start_service
from tests.support.webhooks import ORDER_ID, STORY, easypost

#: Order #1042 with its first parcel out for delivery; the next event delivers it.
OUT_FOR_DELIVERY = [
    *STORY[:3],
    easypost("tracker_created"),
    easypost("tracker_updated__in_transit"),
    easypost("tracker_updated__out_for_delivery"),
]
DELIVERED = easypost("tracker_updated__delivered")
TRACKING_NUMBER = "9400111899223344556677"


@pytest.fixture
def shop(postgres_url, base_env, smtp, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    service = start_service()
    for request in OUT_FOR_DELIVERY:
        assert service.post(request).status_code == 202
        service.drain()
    yield service
    service.stop()


@contextmanager
def event_applied_after_the_first_query(service, request):
    """While the block runs, the first query this thread makes is followed, before the
    thread goes on, by `request` posted, applied and committed by the worker threads."""
    engine = service.runtime.sessions.kw["bind"]
    reader = threading.get_ident()
    applied: list[int] = []

    def apply() -> None:
        applied.append(service.post(request).status_code)
        service.drain()

    def after_query(*_) -> None:
        if applied or threading.get_ident() != reader:
            return
        writer = threading.Thread(target=apply, daemon=True)
        writer.start()
        writer.join(timeout=30)
        assert not writer.is_alive(), "the event was not applied within 30 s"

    event.listen(engine, "after_cursor_execute", after_query)
    try:
        yield applied
    finally:
        event.remove(engine, "after_cursor_execute", after_query)
    assert applied == [202], "the event landed between the reader's queries"


def _parcel_status(order: dict) -> str:
    """The parcel's status, checked against the latest of its history: they must agree."""
    [parcel] = order["shipments"]
    reported = [entry["status"] for entry in order["history"] if entry["kind"] == "tracking"]
    assert parcel["status"] == reported[-1], "the parcel's status and its history disagree"
    return parcel["status"]


def test_an_order_read_while_an_event_lands_is_all_before_it_or_all_after_it(shop):
    before = shop.order(ORDER_ID)
    with event_applied_after_the_first_query(shop, DELIVERED):
        during = shop.order(ORDER_ID)
    after = shop.order(ORDER_ID)

    assert (_parcel_status(before), _parcel_status(after)) == ("out_for_delivery", "delivered")
    _parcel_status(during)
    assert during in (before, after)


def test_a_shipment_read_while_an_event_lands_is_all_before_it_or_all_after_it(shop):
    path = f"/api/v1/shipments/usps/{TRACKING_NUMBER}"
    before = shop.api(path).json
    with event_applied_after_the_first_query(shop, DELIVERED):
        during = shop.api(path).json
    after = shop.api(path).json

    assert (before["status"], after["status"]) == ("out_for_delivery", "delivered")
    assert during["status"] == _parcel_status(during["order"])
    assert during in (before, after)


def _page(service, token: str) -> str:
    response = service.client.get(f"/t/{token}")
    assert response.status_code == 200
    # Each answer has its own script nonce; the rest must be the same page.
    return re.sub(r"nonce[-=]\"?[\w-]+", "nonce", response.get_data(as_text=True))


def test_the_tracking_page_read_while_an_event_lands_is_all_before_it_or_all_after_it(shop):
    with shop.runtime.sessions() as session:
        order_id = session.scalar(select(Order.id).where(Order.external_id == ORDER_ID))
    token = tracking_token(shop.runtime.channels.link_keys, order_id)
    before = _page(shop, token)
    with event_applied_after_the_first_query(shop, DELIVERED):
        during = _page(shop, token)
    after = _page(shop, token)

    assert before != after
    assert during in (before, after)
