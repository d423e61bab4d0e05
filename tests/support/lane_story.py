"""Delivered parcels with their first carrier scans, written straight into the tables, for the
learned estimates (store/estimates.py) and their report: rows as the pipeline leaves them
(an order, its delivered parcel, the carrier's first scan in its history). Nothing of ours is
imitated; every number the tests expect is worked out by hand beside them."""

from dataclasses import dataclass
from datetime import UTC, datetime

from ordertrack.store.models import History, Inbox, Order, Shipment


@dataclass(frozen=True)
class Delivered:
    carrier: str
    country: str
    region: str | None
    postcode: str | None
    first_scan: datetime | None
    delivered_at: datetime


def seed(session, parcels: list[Delivered], prefix: str = "past") -> None:
    """One order per parcel (external ids `<prefix>-<n>`), delivered, with its first scan."""
    inbox = Inbox(
        source="easypost",
        dedupe_key=f"{prefix}-story",
        topic="tracker.updated",
        headers={},
        body=b"{}",
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
        status="processed",
        touched_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    session.add(inbox)
    session.flush()
    for n, parcel in enumerate(parcels):
        order = Order(
            platform="shopify",
            external_id=f"{prefix}-{n}",
            name=f"#{prefix}-{n}",
            country_code=parcel.country,
            province_code=parcel.region,
            postcode=parcel.postcode,
            platform_status="fulfilled",
            status="delivered",
            created_at=parcel.delivered_at,
            updated_at=parcel.delivered_at,
        )
        order.shipments.append(
            Shipment(
                key="f:1",
                carrier=parcel.carrier,
                tracking_number=f"{prefix.upper()}{n:06d}",
                status="delivered",
                status_at=parcel.delivered_at,
            )
        )
        session.add(order)
        session.flush()
        for index, (status, when) in enumerate(
            (("in_transit", parcel.first_scan), ("delivered", parcel.delivered_at))
        ):
            if when is not None:
                session.add(
                    History(
                        order_id=order.id,
                        inbox_id=inbox.id,
                        fact_index=n * 2 + index,
                        shipment_key="f:1",
                        kind="tracking",
                        status=status,
                        occurred_at=when,
                        source="easypost",
                    )
                )
