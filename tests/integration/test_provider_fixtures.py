"""Every provider fixture through the whole service (app, inbox, real worker, SQLite and
PostgreSQL): accepted, processed, never failed; and each EasyPost status branch ends where the
documentation says, with the carrier's raw words kept."""

import json
from typing import NamedTuple

import pytest
from sqlalchemy import select

from ordertrack.store.models import Inbox
from tests.support.webhooks import ORDER_ID, Request, easypost, fixture_names, shopify

#: The order and both parcels exist before anything else arrives. Posted under delivery ids of
#: their own, so the fixture files themselves still arrive as new deliveries afterwards.
ORDER_AND_PARCELS = [
    shopify(name, webhook_id=f"setup-{name}")
    for name in ("orders_create", "fulfillments_create", "fulfillments_create__second_parcel")
]
#: Real topics ordertrack does not use: answered 200 and kept as ignored.
IGNORED = {"shopify/customers_create", "easypost/refund_successful"}


def _key(request: Request) -> str:
    return f"{request.source}/{request.name}"


def _delivery_id(request: Request) -> str:
    """The id the sender gave the delivery: Shopify's header, EasyPost's Event id."""
    if request.source == "shopify":
        return request.headers["X-Shopify-Webhook-Id"]
    return json.loads(request.body)["id"]


def _post(service, requests: list[Request]) -> dict[str, int]:
    answers = {_key(r): service.post(r).status_code for r in requests}
    service.drain()
    return answers


def _inbox_status(service) -> dict[tuple[str, str], str]:
    with service.runtime.engine.connect() as connection:
        rows = connection.execute(select(Inbox.source, Inbox.dedupe_key, Inbox.status))
        return {(source, key): status for source, key, status in rows}


def test_every_fixture_after_the_order_and_its_parcels_is_accepted_and_processed(service):
    assert set(_post(service, ORDER_AND_PARCELS).values()) == {202}
    fixtures = [shopify(n) for n in fixture_names("shopify")] + [
        easypost(n) for n in fixture_names("easypost")
    ]
    assert len(fixtures) == 28

    answers = _post(service, fixtures)

    assert answers == {_key(r): 200 if _key(r) in IGNORED else 202 for r in fixtures}
    inbox = _inbox_status(service)
    assert [row for row, status in inbox.items() if status == "failed"] == []
    assert {_key(r): inbox[(r.source, _delivery_id(r))] for r in fixtures} == {
        _key(r): "ignored" if _key(r) in IGNORED else "processed" for r in fixtures
    }


class Branch(NamedTuple):
    """Where parcel 1 ends after its label (tracker_created) and then this one event."""

    shipment: tuple[str, str, str]  # status, raw_status, status_detail as the API shows them
    history: tuple[str, str, str]  # the event's own history entry: status, raw_status, detail
    est_delivery: str | None


LABEL = ("label_created", "pre_transit", "label_created")
EST = "2026-11-04"

#: unknown and error say nothing about the parcel: the shipment stays at its label, and the
#: raw code is kept in the history, never guessed as in transit.
BRANCHES = {
    "tracker_updated__unknown": Branch(LABEL, ("unknown", "unknown", "unknown"), EST),
    "tracker_updated__error": Branch(LABEL, ("unknown", "error", "unknown"), EST),
    "tracker_updated__available_for_pickup": Branch(
        ("available_for_pickup", "available_for_pickup", "arrived_at_pickup_location"),
        ("available_for_pickup", "available_for_pickup", "arrived_at_pickup_location"),
        EST,
    ),
    "tracker_updated__return_to_sender": Branch(
        ("returned", "return_to_sender", "return"),
        ("returned", "return_to_sender", "return"),
        EST,
    ),
    "tracker_updated__failure": Branch(
        ("exception", "failure", "delivery_exception"),
        ("exception", "failure", "delivery_exception"),
        EST,
    ),
    "tracker_updated__cancelled": Branch(
        ("cancelled", "cancelled", "cancelled"), ("cancelled", "cancelled", "cancelled"), None
    ),
    "tracker_updated__failed_attempt": Branch(
        ("in_transit", "in_transit", "delivery_exception"),
        ("in_transit", "in_transit", "delivery_exception"),
        EST,
    ),
}


@pytest.mark.parametrize("name", BRANCHES)
def test_easypost_status_branch_shows_its_status_and_keeps_the_raw_code(service, name):
    expected = BRANCHES[name]
    branch = easypost(name)
    story = [
        shopify("orders_create"),
        shopify("fulfillments_create"),
        easypost("tracker_created"),
        branch,
    ]
    assert set(_post(service, story).values()) == {202}

    order = service.order(ORDER_ID)

    (shipment,) = order["shipments"]
    assert shipment["fulfillment_id"] == "4451234567890"
    assert (shipment["status"], shipment["raw_status"], shipment["status_detail"]) == (
        expected.shipment
    )
    if expected.est_delivery:
        assert shipment["est_delivery"] == expected.est_delivery
    (entry,) = [
        e for e in order["history"] if e["source_event"]["delivery_id"] == _delivery_id(branch)
    ]
    assert (entry["kind"], entry["shipment"]) == ("tracking", "f:4451234567890")
    assert (entry["status"], entry["raw_status"], entry["detail"]) == expected.history


def test_orders_cancelled_cancels_order_1043_and_leaves_order_1042_alone(service):
    assert _post(service, [shopify("orders_create"), shopify("orders_cancelled")]) == {
        "shopify/orders_create": 202,
        "shopify/orders_cancelled": 202,
    }
    cancelled = service.order("5531234567999")
    assert (cancelled["name"], cancelled["status"]) == ("#1043", "cancelled")
    assert service.order(ORDER_ID)["status"] == "received"
