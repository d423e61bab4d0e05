"""The state model: what ordertrack knows of an order and its parcels, as frozen values.

Frozen so that `apply` can only return a new state, never change one a caller still holds:
`pipeline` compares the state before and after to tell whether anything changed.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from ordertrack.facts import Customer, LineItem
from ordertrack.statuses import OrderStatus, ShipmentStatus

#: What a missing time compares as: before every fact.
NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ShipmentState:
    key: str
    fulfillment_id: str | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    status: ShipmentStatus = ShipmentStatus.LABEL_CREATED
    status_at: datetime | None = None
    raw_status: str | None = None
    detail: str | None = None
    est_delivery: date | None = None
    est_delivery_at: datetime | None = None
    #: The newest platform report of this fulfillment.
    fulfilled_at: datetime | None = None
    #: When the platform first gave the parcel its current tracking number: the start of the
    #: number's life here (later reports of the same number do not move it).
    labelled_at: datetime | None = None
    #: The carrier as a carrier report names it, shown when the platform named none. Only the
    #: platform's `carrier` decides which parcel a report is about.
    reported_carrier: str | None = None
    items: tuple[LineItem, ...] = ()
    #: The platform cancelled this fulfillment: final, whatever the carrier reports later.
    cancelled: bool = False
    #: The platform's newest list of the order's fulfillments no longer has this one.
    removed: bool = False
    #: When a carrier reported a failed delivery attempt, every report, in time order: each
    #: attempt is news to the customer (a set of times, so arrival order is moot).
    failed_attempts: tuple[datetime, ...] = ()
    #: The furthest stage any report of this parcel's number has named, applied or not (a
    #: max over reports, so arrival order is moot): its news never goes back below it.
    furthest_stage: int = 0
    #: How many times the platform replaced this parcel's tracking number: the outbox tells
    #: each number's news afresh (the old number's scans may have been another parcel's).
    relabels: int = 0

    @property
    def live(self) -> bool:
        """Counts towards the order: not cancelled or removed by the platform, nor cancelled
        by the carrier."""
        return not (self.cancelled or self.removed) and self.status is not ShipmentStatus.CANCELLED

    @property
    def attempt(self) -> int:
        """Which failed delivery attempt the parcel's status reports (1 for the first), 0 when
        it reports none. Reports of one attempt from two sources, minutes apart, are one."""
        if self.status is not ShipmentStatus.DELIVERY_FAILED:
            return 0
        count, started = 0, None
        for at in self.failed_attempts:
            if self.status_at and at > self.status_at:
                break
            if started is None or at - started > ONE_ATTEMPT:
                count, started = count + 1, at
        return max(count, 1)


#: Reports of a failed attempt this close to the first report of an attempt are about the same
#: one (the carrier's scan and an aggregator's copy of it); carriers try again the next day.
ONE_ATTEMPT = timedelta(hours=6)


@dataclass(frozen=True)
class OrderState:
    platform_status: OrderStatus = OrderStatus.RECEIVED
    platform_status_at: datetime | None = None
    status: OrderStatus = OrderStatus.RECEIVED
    furthest_stage: int = 0
    name: str | None = None
    customer: Customer = field(default_factory=Customer)
    items: tuple[LineItem, ...] = ()
    info_at: datetime | None = None
    #: The fulfillment ids the platform listed as the order's, complete, and as of when.
    fulfillment_list: tuple[str, ...] | None = None
    fulfillment_list_at: datetime | None = None
    shipments: tuple[ShipmentState, ...] = ()

    def shipment(self, key: str) -> ShipmentState | None:
        return next((s for s in self.shipments if s.key == key), None)


@dataclass(frozen=True)
class Transition:
    """The order moved from one status to another because of facts applied together."""

    before: OrderStatus
    after: OrderStatus
    furthest_stage_before: int
