"""A small shop's November, written straight into the tables with a fixed clock, so every
number the reports give can be worked out by hand (tests/integration/test_reports.py says
how). Rows are inserted as the pipeline would leave them: no part of ours is imitated."""

from datetime import UTC, date, datetime

from ordertrack import delays
from ordertrack.store import flags as store_flags
from ordertrack.store import milestones, rollups
from ordertrack.store.flag_models import DelayFlag
from ordertrack.store.models import History, Inbox, Order, Outbox, Shipment
from ordertrack.store.return_models import Return, ReturnItem

#: The period the story fills: ISO weeks 2026-W45 (from Mon 2 Nov) to W48.
SINCE = datetime(2026, 11, 2, tzinfo=UTC)
UNTIL = datetime(2026, 11, 30, tzinfo=UTC)


def at(day: int, hour: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def _order(name, created, status, country, items, region=None) -> Order:
    return Order(
        platform="shopify",
        external_id=name,
        name=f"#{name}",
        country_code=country,
        province_code=region,
        items=[{"external_id": i, "title": t, "quantity": q} for i, t, q in items],
        platform_status="open",
        status=status,
        created_at=created,
        updated_at=created,
    )


def seed(session) -> None:
    inbox = Inbox(
        source="shopify",
        dedupe_key="story",
        topic="orders/create",
        headers={},
        body=b"{}",
        received_at=SINCE,
        status="processed",
        touched_at=SINCE,
    )
    a = _order("A", at(2, 10), "delivered", "US", [("1", "Mug", 2)], region="CA")
    b = _order("B", at(3, 10), "delivered", "US", [("2", "Poster", 1)], region="NY")
    c = _order("C", at(10, 10), "exception", "GB", [("1", "Mug", 1)])
    d = _order("D", at(11, 10), "received", "US", [("2", "Poster", 3)])
    e = _order("E", at(12, 10), "cancelled", "US", [])
    f = _order("F", at(1, 10, month=10), "delivered", "US", [("1", "Mug", 5)])  # before
    session.add_all([inbox, a, b, c, d, e, f])
    session.flush()
    a.shipments.append(_parcel("A1", "UPS", "delivered", date(2026, 11, 5)))
    b.shipments.append(_parcel("B1", "ups", "delivered", date(2026, 11, 6)))
    c.shipments.append(_parcel("C1", "DHL", "exception", date(2026, 11, 13)))
    f.shipments.append(_parcel("F1", "UPS", "delivered", None))
    facts = [
        (a, None, "order", "received", at(2, 10)),
        (a, "f:A1", "fulfillment", "fulfilled", at(3, 10)),
        (a, "f:A1", "tracking", "in_transit", at(3, 16)),
        (a, "f:A1", "tracking", "delivered", at(5, 16)),
        (b, None, "order", "received", at(3, 9)),  # placed before it reached us
        (b, "f:B1", "fulfillment", "fulfilled", at(5, 9)),
        (b, "f:B1", "tracking", "label_created", at(5, 10)),
        (b, "f:B1", "tracking", "in_transit", at(5, 11)),
        (b, "f:B1", "tracking", "delivery_failed", at(6, 12)),
        (b, "f:B1", "tracking", "delivered", at(7, 11)),
        (c, None, "order", "received", at(10, 10)),
        (c, "f:C1", "fulfillment", "fulfilled", at(10, 14)),
        (c, "f:C1", "tracking", "exception", at(11, 14)),
        (d, None, "order", "received", at(11, 10)),
        (f, None, "order", "received", at(1, 10, month=10)),
        (f, "f:F1", "fulfillment", "fulfilled", at(2, 10, month=10)),
        (f, "f:F1", "tracking", "delivered", at(3, 10, month=10)),
    ]
    for index, (order, key, kind, status, when) in enumerate(facts):
        session.add(
            History(
                order_id=order.id,
                inbox_id=inbox.id,
                fact_index=index,
                shipment_key=key,
                kind=kind,
                status=status,
                occurred_at=when,
                source="shopify",
            )
        )
    flags = [
        (a, delays.NOT_SHIPPED, at(3), at(5)),
        (c, delays.NO_MOVEMENT, at(12), None),
        (b, delays.PAST_ESTIMATE, at(7), at(10)),
        (f, delays.EXCEPTION_OPEN, at(20, month=10), at(4)),
    ]
    for order, kind, raised, cleared in flags:
        session.add(
            DelayFlag(
                order_id=order.id,
                kind=kind,
                detail=kind,
                since=raised,
                created_at=raised,
                cleared_at=cleared,
            )
        )
    returns = [
        (b, "damaged", at(8), "Poster"),
        (a, "damaged", at(9), "Mug"),
        (c, "wrong_item", at(20), "Mug"),
    ]
    for order, reason, when, title in returns:
        row = Return(
            order_id=order.id, status="return_requested", reason=reason, created_at=when,
            updated_at=when,
        )  # fmt: skip
        row.items.append(ReturnItem(line_item_id=title, title=title, quantity=1))
        session.add(row)
    messages = [
        (a, "email", "sent", at(3)),
        (b, "email", "delivered", at(5)),
        (c, "email", "failed", at(11)),
        (d, "email", "pending", at(11)),
        (a, "sms", "failed", at(3)),
        (b, "sms", "delivered", at(5)),
        (f, "email", "sent", at(2, month=10)),
    ]
    for order, channel, status, when in messages:
        session.add(
            Outbox(
                order_id=order.id,
                kind="shipped",
                channel=channel,
                recipient="customer@shop.test",
                status=status,
                created_at=when,
                touched_at=when,
            )
        )
    session.flush()
    # The milestones the pipeline keeps as it writes history, from the history above.
    milestones.backfill(session.connection())
    rollups.rebuild(session)
    store_flags.rebuild_days(session)  # the flags above were written as rows, not opened


def _parcel(fulfillment: str, carrier: str, status: str, estimate: date | None) -> Shipment:
    return Shipment(
        key=f"f:{fulfillment}",
        fulfillment_id=fulfillment,
        carrier=carrier,
        tracking_number=f"TN{fulfillment}",
        status=status,
        est_delivery=estimate,
    )
