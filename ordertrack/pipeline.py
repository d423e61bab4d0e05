"""Apply one inbox row: normalize, run the lifecycle, and write state, history and outbox rows
in the caller's transaction. The queue edge calls this; it knows nothing of queues."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum

from sqlalchemy import case, exists, select, update
from sqlalchemy.orm import Session, with_expression

from ordertrack import alerts, delay_check, lifecycle, providers, strictjson
from ordertrack.errors import AttemptsExhausted
from ordertrack.facts import Fact, FulfillmentFact, OrderFact, RefundFact, TrackingFact
from ordertrack.lifecycle.matching import shipment_key
from ordertrack.notifications import outbox
from ordertrack.settings import Settings
from ordertrack.statuses import OrderStatus, ShipmentStatus
from ordertrack.store import milestones, orders, parking, returns, rollups
from ordertrack.store.inbox import insert_ignoring_duplicates
from ordertrack.store.models import History, Inbox, InboxStatus, Order, ParkedNumber


@dataclass(frozen=True)
class Applied:
    """A row applied: the edge measures how long its news waited since it was received."""

    source: str
    received_at: datetime
    applied_at: datetime


@dataclass
class Processed:
    """What the caller enqueues after commit, and what it counts."""

    #: Notifications queued, each with the moment it is due.
    notifications: list[outbox.AddedRow] = field(default_factory=list)
    #: Parked carrier events whose tracking number a fulfillment just named.
    unparked_inbox_ids: list[int] = field(default_factory=list)
    #: Each order status this row moved an order to, for the edge to count.
    new_statuses: list[OrderStatus] = field(default_factory=list)
    #: Set once the row is applied (not while it stays parked).
    applied: Applied | None = None


class Start(Enum):
    """What `start_attempt` did."""

    STARTED = "started"
    #: Done already, or another worker finished it or is at it: nothing to do.
    NOTHING_TO_DO = "nothing to do"
    #: Its attempts were used up by attempts that never finished: failed now, and alerted.
    GAVE_UP = "gave up"


def start_attempt(session: Session, inbox_id: int, max_attempts: int, now: datetime) -> Start:
    """`start_attempts` for one row."""
    return start_attempts(session, [inbox_id], max_attempts, now)[inbox_id]


def start_attempts(
    session: Session, inbox_ids: list[int], max_attempts: int, now: datetime
) -> dict[int, Start]:
    """Count an attempt on each row still to be done, committed by the caller before the
    work: three statements whatever the number of rows.

    An attempt that fails records itself (and gives up after MAX_ATTEMPTS); one that never
    finishes (SIGKILL, out of memory, Dramatiq's TimeLimitExceeded, a BaseException) leaves
    the row `processing`, and the queue or the sweeper hands it out again. So the count is
    checked here too: a `processing` row whose attempts are used up is refused, failed and
    alerted. Other rows are not refused here, whatever their count: their attempts finished
    (a parked event may be looked at many times), and the failure handler counts failures.

    A row another transaction holds is another worker's (the queue handed this message out
    twice, as at-least-once queues do): left to it at once, as `claim` leaves it. Waiting for
    its lock would hold this worker thread for as long as that attempt takes (a slow source
    API, a hung one), and other events would wait behind it."""
    found = dict.fromkeys(inbox_ids, Start.NOTHING_TO_DO)
    free = _free(session, inbox_ids)
    if not free:
        return found
    started = set(session.scalars(_attempt_query(free, max_attempts, now)))
    found |= dict.fromkeys(started, Start.STARTED)
    gave_up = _give_up(session, [i for i in free if i not in started], max_attempts, now)
    return found | dict.fromkeys(gave_up, Start.GAVE_UP)


def _free(session: Session, inbox_ids: list[int]) -> list[int]:
    """Locks the rows unless another transaction holds them (SQLite locks the whole database
    instead, and ignores this)."""
    query = (
        select(Inbox.id)
        .where(Inbox.id.in_(inbox_ids))
        .order_by(Inbox.id)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(query))


def _attempt_query(inbox_ids: list[int], max_attempts: int, now: datetime):
    exhausted = (Inbox.status == InboxStatus.PROCESSING) & (Inbox.attempts >= max_attempts)
    return (
        update(Inbox)
        .where(
            Inbox.id.in_(inbox_ids),
            Inbox.status.in_((*InboxStatus.UNFINISHED, InboxStatus.PARKED)),
            ~exhausted,
        )
        .values(
            attempts=Inbox.attempts + 1,
            touched_at=now,
            status=case(
                (Inbox.status == InboxStatus.PARKED, InboxStatus.PARKED),
                else_=InboxStatus.PROCESSING,
            ),
        )
        .returning(Inbox.id)
        .execution_options(synchronize_session=False)
    )


def _give_up(session: Session, inbox_ids: list[int], max_attempts: int, now: datetime) -> list:
    if not inbox_ids:
        return []
    reason = (
        f"gave up: its attempts are used up (MAX_ATTEMPTS {max_attempts}) and the last never"
        " finished (the worker was killed, ran out of memory or went over its time limit)"
    )
    query = (
        update(Inbox)
        .where(
            Inbox.id.in_(inbox_ids),
            Inbox.status == InboxStatus.PROCESSING,
            Inbox.attempts >= max_attempts,
        )
        .values(status=InboxStatus.FAILED, last_error=reason, touched_at=now)
        .returning(Inbox.id, Inbox.source, Inbox.topic, Inbox.attempts)
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(query).all()
    for row in rows:
        exc = AttemptsExhausted(reason)
        alerts.event_failed(session, row.id, row.source, row.topic, exc, row.attempts, now)
    return [row.id for row in rows]


def claim(session: Session, inbox_id: int) -> Inbox | None:
    """The row, locked, if it still needs work; None when done or another worker holds it."""
    return next(iter(claim_many(session, [inbox_id])), None)


def claim_many(session: Session, inbox_ids: list[int]) -> list[Inbox]:
    """Those of the rows that still need work, locked, in id order; one statement. A row
    another worker holds or has finished is left out."""
    parked = exists().where(ParkedNumber.inbox_id == Inbox.id)
    query = (
        select(Inbox)
        .where(Inbox.id.in_(inbox_ids))
        .order_by(Inbox.id)
        .options(with_expression(Inbox.has_parked_numbers, parked))
        .with_for_update(skip_locked=True, of=Inbox)
    )
    still = (*InboxStatus.UNFINISHED, InboxStatus.PARKED)
    return [row for row in session.scalars(query) if row.status in still]


def facts_of(row: Inbox, settings: Settings) -> list[Fact]:
    """What the row says, as facts. A source whose webhooks only name what changed is asked
    for it here. The row's lock is held meanwhile, which is what keeps a second worker from
    fetching the same thing."""
    provider = providers.get(row.source)
    payload = providers.fetched(provider, row.topic, strictjson.loads(row.body), settings)
    return provider.normalize(row.topic, payload, row.received_at)


def orders_named(facts: list[Fact]) -> set[tuple[str, str]]:
    """The (platform, order id) of every order these facts name outright."""
    named = set()
    for fact in facts:
        if isinstance(fact, OrderFact | FulfillmentFact | RefundFact):
            named.add((fact.platform, fact.order_id))
        elif fact.shipment.fulfillment_id:
            named.add((fact.shipment.platform, fact.shipment.order_id))
    return named


def tracking_numbers(facts: list[Fact]) -> set[str]:
    numbers = set()
    for fact in facts:
        if isinstance(fact, FulfillmentFact) and fact.tracking_number:
            numbers.add(fact.tracking_number)
        elif isinstance(fact, TrackingFact) and fact.shipment.tracking_number:
            numbers.add(fact.shipment.tracking_number)
    return numbers


def process(
    session: Session, row: Inbox, settings: Settings, facts: list[Fact] | None = None
) -> Processed:
    """Apply the row (its `facts`, when the caller has read them already)."""
    facts = facts_of(row, settings) if facts is None else facts
    # Told once per (source, code), parked or not: the merchant's cue to extend a table.
    alerts.unknown_codes(session, row.source, row.id, facts, datetime.now(UTC))
    result = Processed()
    orders.lock_tracking_numbers(session, tracking_numbers(facts))
    groups, parked = _group_by_order(session, facts)
    plan = outbox.plan_for(settings)
    for order, indexed in groups.items():
        _apply(session, row, order, indexed, result, plan)
        # What the event resolved (a scan, a delivery) is no longer a delay: cleared in
        # this same transaction, so no "taking longer than usual" goes out after it.
        delay_check.recheck_applied(session, order, settings, datetime.now(UTC))
    parked = [fact for fact in parked if not _return_delivered(session, fact, result, plan)]
    now = datetime.now(UTC)
    row.touched_at = now
    if parked:
        # Applied facts are applied again on release; that is harmless, since applying
        # is idempotent, and it keeps one row's facts together.
        parking.park(session, row, {fact.shipment.tracking_number for fact in parked})
    else:
        row.status, row.processed_at = InboxStatus.PROCESSED, now
        result.applied = Applied(row.source, row.received_at, now)
        if row.has_parked_numbers is not False:  # never parked: nothing to delete
            parking.unpark(session, row.id)
    return result


def _return_delivered(session: Session, fact: TrackingFact, result: Processed, plan) -> bool:
    """A number no order's parcel has may be a return's, on its way back to the shop: its
    delivery is the return received. True when it was one."""
    if fact.status is not ShipmentStatus.DELIVERED:
        return False
    received = returns.mark_received_by_carrier(
        session, fact.shipment.tracking_number, fact.occurred_at
    )
    for done in received:
        order = session.get(Order, done.order_id)
        result.notifications += outbox.add_return_news(session, order, done.id, "received", plan)
    return bool(received)


def _group_by_order(session: Session, facts: list[Fact]):
    groups: dict[Order, list[tuple[int, Fact]]] = defaultdict(list)
    parked: list[TrackingFact] = []
    for index, fact in enumerate(facts):
        order = _order_for(session, fact)
        if order is None:
            parked.append(fact)
        else:
            groups[order].append((index, fact))
    return groups, parked


def _order_for(session: Session, fact: Fact) -> Order | None:
    if isinstance(fact, OrderFact | FulfillmentFact | RefundFact):
        return orders.lock_or_create(session, fact.platform, fact.order_id)
    ref = fact.shipment
    if ref.fulfillment_id:
        return orders.lock_or_create(session, ref.platform, ref.order_id)
    return orders.find_by_tracking_number(session, ref, fact.occurred_at)


def _apply(session, row: Inbox, order: Order, indexed: list[tuple[int, Fact]], result, plan):
    before = orders.to_state(order)
    counted = rollups.of_order(order)
    outcome = lifecycle.apply(before, [fact for _, fact in indexed])
    if outcome.state != before:
        # Only a change is a change: a repeat (a duplicate, a replay) leaves "last changed".
        orders.save_state(order, outcome.state)
    history = [_history_entry(row, order, i, fact, outcome.state) for i, fact in indexed]
    # Before the flush, so that the order's and its parcels' milestone times go out in the
    # same UPDATE (or INSERT) as their state.
    milestones.record(order, history)
    session.flush()
    session.execute(insert_ignoring_duplicates(session.connection(), History.__table__), history)
    # The reports' daily rollups move by what this event changed (store/rollups.py).
    rollups.add_at_commit(session, counted, rollups.of_order(order))
    refunded = _refund_returns(session, order, indexed)
    # A refund that settles a return is told as the return's refund, not the order's.
    result.notifications += outbox.add_rows(
        session, order, before, outcome, plan, refund_told=bool(refunded)
    )
    if outcome.transition:
        result.new_statuses.append(outcome.transition.after)
    result.unparked_inbox_ids += _unpark(session, indexed)
    for done in refunded:
        result.notifications += outbox.add_return_news(session, order, done.id, "refunded", plan)


def _refund_returns(session, order: Order, indexed: list[tuple[int, Fact]]) -> list:
    """The platform refunded the order: its returns on their way to a refund end there."""
    refunded = []
    for _, fact in indexed:
        refund = isinstance(fact, RefundFact)
        if refund or (isinstance(fact, OrderFact) and fact.status is OrderStatus.REFUNDED):
            refunded += returns.mark_refunded_by_platform(session, order.id, fact.occurred_at)
    return refunded


def _history_entry(row: Inbox, order: Order, index: int, fact: Fact, state) -> dict:
    entry = {
        "order_id": order.id,
        "inbox_id": row.id,
        "fact_index": index,
        "occurred_at": fact.occurred_at,
        "source": row.source,
        "shipment_key": None,
        "raw_status": None,
        "detail": None,
    }
    if isinstance(fact, RefundFact):
        return entry | {"kind": "refund", "status": "refunded"}
    if isinstance(fact, OrderFact) and fact.unknown_status:
        return entry | {"kind": "order", "status": "unknown", "raw_status": fact.unknown_status}
    if isinstance(fact, OrderFact):
        return entry | {"kind": "order", "status": fact.status and fact.status.value}
    if isinstance(fact, FulfillmentFact):
        return entry | {
            "kind": "fulfillment",
            "status": "cancelled" if fact.cancelled else "fulfilled",
            "shipment_key": f"f:{fact.fulfillment_id}",
            "detail": fact.tracking_number,
        }
    return entry | {
        "kind": "tracking",
        "status": fact.status and fact.status.value,
        "shipment_key": shipment_key(state, fact),
        "raw_status": fact.raw_status,
        "detail": fact.detail or fact.message,
    }


def _unpark(session: Session, indexed: list[tuple[int, Fact]]) -> list[int]:
    numbers = [
        f.tracking_number
        for _, f in indexed
        if isinstance(f, FulfillmentFact) and f.tracking_number
    ]
    return parking.release(session, numbers)
