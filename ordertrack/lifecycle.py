"""Pure rules: (current state, facts) -> new state + transitions.

Every rule is a "newest fact wins" comparison, so applying facts is commutative and idempotent:
any permutation of a story's events, with any duplicates, converges on one state. The order's
status is then derived from the platform's latest word and its shipments, never accumulated.
"""

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Protocol, TypeVar

from ordertrack.facts import (
    Customer,
    Fact,
    FulfillmentFact,
    LineItem,
    OrderFact,
    RefundFact,
    ShipmentRef,
    TrackingFact,
    carriers_differ,
)
from ordertrack.statuses import (
    ATTENTION,
    FINAL_ORDER_STATUSES,
    OrderStatus,
    ShipmentStatus,
    order_status_for_shipment,
    stage,
)

_NEVER = datetime.min.replace(tzinfo=UTC)


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


def _rank(status: ShipmentStatus) -> int:
    return stage(status) if status in _STAGED else -1


def _tracking_key(at: datetime | None, status: ShipmentStatus, raw: str | None, detail: str | None):
    """Facts compare by time; at the same instant the further status wins, then the raw code
    and detail decide, so two reports of one scan (the platform's and the carrier's) leave the
    same state whichever arrives first."""
    return (at or _NEVER, _rank(status), status.value, raw or "", detail or "")


def _platform_key(at: datetime | None, status: OrderStatus) -> tuple:
    return (at or _NEVER, stage(status), status.value)


_STAGED = {s for s in ShipmentStatus if s not in (ShipmentStatus.UNKNOWN, ShipmentStatus.CANCELLED)}


def apply_tracking(shipment: ShipmentState, fact: TrackingFact) -> ShipmentState:
    if fact.est_delivery and (fact.occurred_at, fact.est_delivery) > (
        shipment.est_delivery_at or _NEVER,
        shipment.est_delivery or date.min,
    ):
        shipment = replace(
            shipment, est_delivery=fact.est_delivery, est_delivery_at=fact.occurred_at
        )
    if fact.carrier and (not shipment.reported_carrier or fact.carrier < shipment.reported_carrier):
        # Filled from any report, applied or not; the least name, so arrival order is moot.
        shipment = replace(shipment, reported_carrier=fact.carrier)
    if fact.status is ShipmentStatus.DELIVERY_FAILED and fact.occurred_at not in (
        shipment.failed_attempts
    ):
        attempts = tuple(sorted((*shipment.failed_attempts, fact.occurred_at)))
        shipment = replace(shipment, failed_attempts=attempts)
    if fact.status in _STAGED and stage(fact.status) > shipment.furthest_stage:
        shipment = replace(shipment, furthest_stage=stage(fact.status))
    if fact.status in (None, ShipmentStatus.UNKNOWN):
        return shipment  # kept in the history with its raw code, never applied as a guess
    new = _tracking_key(fact.occurred_at, fact.status, fact.raw_status, fact.detail)
    known = _tracking_key(shipment.status_at, shipment.status, shipment.raw_status, shipment.detail)
    if new <= known:
        return shipment
    return replace(
        shipment,
        status=fact.status,
        status_at=fact.occurred_at,
        raw_status=fact.raw_status,
        detail=fact.detail,
    )


def apply_fulfillment(shipment: ShipmentState, fact: FulfillmentFact) -> ShipmentState:
    if shipment.fulfilled_at and fact.occurred_at < shipment.fulfilled_at:
        # An older report only fills what the newer ones left out.
        shipment = replace(
            shipment,
            fulfillment_id=shipment.fulfillment_id or fact.fulfillment_id,
            carrier=shipment.carrier or fact.carrier,
            tracking_number=shipment.tracking_number or fact.tracking_number,
            tracking_url=shipment.tracking_url or fact.tracking_url,
            items=shipment.items or fact.items,
            cancelled=shipment.cancelled or fact.cancelled,
        )
        return _labelled(shipment, fact)
    if _replaces_tracking_number(shipment, fact):
        shipment = _relabelled(shipment)
    shipment = replace(
        shipment,
        fulfillment_id=fact.fulfillment_id,
        carrier=fact.carrier or shipment.carrier,
        tracking_number=fact.tracking_number or shipment.tracking_number,
        tracking_url=fact.tracking_url or shipment.tracking_url,
        fulfilled_at=fact.occurred_at,
        items=fact.items or shipment.items,
        cancelled=shipment.cancelled or fact.cancelled,
    )
    return _labelled(shipment, fact)


def _labelled(shipment: ShipmentState, fact: FulfillmentFact) -> ShipmentState:
    """The earliest report of the parcel's current number dates the number's life here."""
    if not fact.tracking_number or fact.tracking_number != shipment.tracking_number:
        return shipment
    since = shipment.labelled_at
    return replace(
        shipment, labelled_at=min(since, fact.occurred_at) if since else fact.occurred_at
    )


def _replaces_tracking_number(shipment: ShipmentState, fact: FulfillmentFact) -> bool:
    return bool(
        shipment.tracking_number
        and fact.tracking_number
        and fact.tracking_number != shipment.tracking_number
    )


def _relabelled(shipment: ShipmentState) -> ShipmentState:
    """The parcel has a new tracking number: what the old one reported is not this parcel's
    news any more (a typo'd number may even be somebody else's parcel), so the carrier status
    starts again from the label. The old reports stay in the history."""
    return replace(
        shipment,
        carrier=None,
        reported_carrier=None,
        labelled_at=None,
        tracking_url=None,
        status=ShipmentStatus.LABEL_CREATED,
        status_at=None,
        raw_status=None,
        detail=None,
        est_delivery=None,
        est_delivery_at=None,
        failed_attempts=(),
        furthest_stage=0,
        relabels=shipment.relabels + 1,
    )


def replaced_tracking_numbers(before: OrderState, after: OrderState) -> list[str]:
    """The new numbers of shipments whose tracking number was replaced: the customer must
    hear of them, or they will watch a number that no longer moves. A platform that cannot
    edit a number (WooCommerce's Shipment Tracking) removes the parcel and adds another in
    one update: that is a replacement too."""
    replaced, added, dropped = [], [], False
    for shipment in after.shipments:
        old = before.shipment(shipment.key)
        if old is None:
            added += (
                [shipment.tracking_number] if shipment.live and shipment.tracking_number else []
            )
        elif old.tracking_number and shipment.tracking_number != old.tracking_number:
            replaced.append(shipment.tracking_number)
        elif old.live and old.tracking_number and not shipment.live:
            dropped = True
    return replaced + (added if dropped else [])


def _merged(newer: Customer, older: Customer) -> Customer:
    """The newer report, but a payload that omits the customer's consent to texts or their
    language has not withdrawn them. (A removed phone number or address is removed.)"""
    return replace(
        newer,
        sms_consent=older.sms_consent if newer.sms_consent is None else newer.sms_consent,
        locale=newer.locale or older.locale,
    )


def apply_order(state: OrderState, fact: OrderFact) -> OrderState:
    if not state.info_at or fact.occurred_at >= state.info_at:
        state = replace(
            state,
            name=fact.name or state.name,
            customer=_merged(fact.customer, state.customer),
            items=fact.items or state.items,
            info_at=fact.occurred_at,
        )
    else:  # an older report only fills what the newer ones did not say
        state = replace(state, customer=_merged(state.customer, fact.customer))
    if fact.status and _platform_key(fact.occurred_at, fact.status) > _platform_key(
        state.platform_status_at, state.platform_status
    ):
        state = replace(state, platform_status=fact.status, platform_status_at=fact.occurred_at)
    listed_at = state.fulfillment_list_at
    if fact.fulfillment_ids is not None and (not listed_at or fact.occurred_at > listed_at):
        state = replace(
            state,
            fulfillment_list=tuple(sorted(fact.fulfillment_ids)),
            fulfillment_list_at=fact.occurred_at,
        )
    return state


def _unlisted_removed(state: OrderState) -> OrderState:
    """A fulfillment missing from the platform's newest complete list, and reported no later
    than that list, was removed (WooCommerce deletes a tracking item to correct it). Worked
    out afresh from the final list each time, so arrival order does not matter."""
    listed, at = state.fulfillment_list, state.fulfillment_list_at
    if listed is None or at is None:
        return state
    shipments = tuple(
        replace(
            s,
            removed=bool(
                s.fulfillment_id
                and s.fulfillment_id not in listed
                and s.fulfilled_at
                and s.fulfilled_at <= at
            ),
        )
        for s in state.shipments
    )
    return replace(state, shipments=shipments)


#: Carriers recycle tracking numbers once a parcel is long gone (months, for UPS and USPS).
#: A carrier event this long after a shipment was fulfilled is some later parcel's.
TRACKING_NUMBER_REUSE = timedelta(days=120)

#: A carrier may scan a label before the platform hears of the fulfillment (the label is
#: bought first); an event from longer before than this is an earlier parcel's.
LABEL_LEAD = timedelta(days=30)


class Labelled(Protocol):
    """A shipment as state or as a row: what deciding whose parcel an event is needs."""

    tracking_number: str | None
    carrier: str | None
    labelled_at: datetime | None
    fulfilled_at: datetime | None
    cancelled: bool
    removed: bool


L = TypeVar("L", bound=Labelled)


def _since(shipment: Labelled) -> datetime | None:
    return shipment.labelled_at or shipment.fulfilled_at


def claims(shipment: Labelled, ref: ShipmentRef, occurred_at: datetime) -> bool:
    """Whether a carrier event naming `ref` at `occurred_at` is about this shipment: the same
    number, not plainly another carrier's, and a time within the number's life here."""
    if not ref.tracking_number or shipment.tracking_number != ref.tracking_number:
        return False
    if carriers_differ(shipment.carrier, ref.carrier):
        return False
    since = _since(shipment)
    return since is None or since - LABEL_LEAD <= occurred_at <= since + TRACKING_NUMBER_REUSE


def best_claim(shipments: list[L], ref: ShipmentRef, occurred_at: datetime) -> L | None:
    """Of the shipments that claim an event, a live one before one the platform cancelled or
    removed; then the one labelled most recently before the event, or failing that, the first
    labelled after it."""
    claimants = [s for s in shipments if claims(s, ref, occurred_at)]
    live = [s for s in claimants if not (s.cancelled or s.removed)]
    claimants = live or claimants
    before = [s for s in claimants if not _since(s) or _since(s) <= occurred_at]
    if before:
        return max(before, key=lambda s: _since(s) or _NEVER)
    return min(claimants, key=lambda s: _since(s) or _NEVER, default=None)


def shipment_key(state: OrderState, fact: FulfillmentFact | TrackingFact) -> str | None:
    """Platform shipments are keyed by their fulfillment id; a carrier event finds its shipment
    by carrier and tracking number, and None means no fulfillment has named them yet."""
    if isinstance(fact, FulfillmentFact):
        return f"f:{fact.fulfillment_id}"
    ref = fact.shipment
    if ref.fulfillment_id:
        return f"f:{ref.fulfillment_id}"
    found = best_claim(list(state.shipments), ref, fact.occurred_at)
    return found.key if found else None


def _upsert(state: OrderState, key: str, update) -> OrderState:
    """Update a shipment in place (a new one goes last), so a repeated fact is a no-op."""
    if state.shipment(key) is None:
        return replace(state, shipments=(*state.shipments, update(ShipmentState(key=key))))
    return replace(
        state, shipments=tuple(update(s) if s.key == key else s for s in state.shipments)
    )


def derive_status(state: OrderState) -> OrderStatus:
    """The order is as far along as its least advanced live shipment; trouble shows first."""
    if state.platform_status in FINAL_ORDER_STATUSES:
        return state.platform_status
    live = [s for s in state.shipments if s.live]
    if not live:
        return state.platform_status
    for trouble in ATTENTION:
        if any(s.status is trouble for s in live):
            return order_status_for_shipment(trouble)
    least = min(live, key=lambda s: stage(s.status))
    status = order_status_for_shipment(least.status)
    if stage(status) >= stage(OrderStatus.DELIVERED) and items_not_shipped(state):
        # Every parcel so far has arrived, but not every item has left: partly shipped.
        return OrderStatus.SHIPPED
    if status is OrderStatus.DELIVERED and state.platform_status is OrderStatus.COMPLETED:
        return OrderStatus.COMPLETED
    return status


def items_not_shipped(state: OrderState) -> int:
    """How many ordered items no live parcel carries; 0 when the platform did not say which
    items each parcel holds (then parcels are all we know)."""
    live = [s for s in state.shipments if s.live]
    if not state.items or not live or not all(s.items for s in live):
        return 0
    shipped: dict[str, int] = {}
    for shipment in live:
        for item in shipment.items:
            shipped[item.external_id] = shipped.get(item.external_id, 0) + item.quantity
    return sum(max(0, i.quantity - shipped.get(i.external_id, 0)) for i in state.items)


@dataclass(frozen=True)
class Outcome:
    state: OrderState
    transition: Transition | None
    #: Carrier events naming a tracking number no shipment of this order has (yet).
    parked: tuple[TrackingFact, ...] = ()


def _apply_one(state: OrderState, fact: Fact) -> OrderState | None:
    if isinstance(fact, OrderFact):
        return apply_order(state, fact)
    if isinstance(fact, RefundFact):
        return state  # moves returns, not the order (see the pipeline)
    key = shipment_key(state, fact)
    if key is None:
        return None
    if isinstance(fact, FulfillmentFact):
        return _upsert(state, key, lambda s: apply_fulfillment(s, fact))
    return _upsert(state, key, lambda s: apply_tracking(s, fact))


def apply(state: OrderState, facts: list[Fact]) -> Outcome:
    """Apply facts, derive the order's status, and say whether it moved. Fulfillments go
    first so a carrier event in the same batch finds the shipment they create."""
    before = state
    parked: list[TrackingFact] = []
    for fact in sorted(facts, key=lambda f: isinstance(f, TrackingFact)):
        applied = _apply_one(state, fact)
        if applied is None:
            parked.append(fact)  # only a carrier event can fail to find its shipment
        else:
            state = _unlisted_removed(applied)
    status = derive_status(state)
    state = replace(state, status=status, furthest_stage=max(before.furthest_stage, stage(status)))
    moved = (
        None
        if status is before.status
        else Transition(before.status, status, before.furthest_stage)
    )
    return Outcome(state, moved, tuple(parked))


def progress_summary(state: OrderState) -> str | None:
    """'1 of 2 delivered' while an order's parcels arrive apart."""
    live = [s for s in state.shipments if s.live]
    waiting = items_not_shipped(state)
    if len(live) < 2 and not waiting:
        return None
    delivered = sum(s.status is ShipmentStatus.DELIVERED for s in live)
    summary = f"{delivered} of {len(live)} delivered"
    if waiting:
        summary += f", {waiting} item{'s' if waiting > 1 else ''} not shipped yet"
    return summary
