"""Apply one inbox row: normalize, run the lifecycle, and write state, history and outbox rows
in the caller's transaction. The queue edge calls this; it knows nothing of queues."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from ordertrack import lifecycle, providers, strictjson
from ordertrack.facts import Fact, FulfillmentFact, OrderFact, TrackingFact
from ordertrack.notifications import policy
from ordertrack.notifications.sender import STALE_PREFIX
from ordertrack.settings import Settings
from ordertrack.store import orders, parking
from ordertrack.store.inbox import insert_ignoring_duplicates
from ordertrack.store.models import History, Inbox, InboxStatus, Order, Outbox, OutboxStatus


@dataclass
class Processed:
    """What the caller enqueues after commit."""

    outbox_ids: list[int] = field(default_factory=list)
    #: Parked carrier events whose tracking number a fulfillment just named.
    unparked_inbox_ids: list[int] = field(default_factory=list)


def start_attempt(inbox_id: int):
    """One UPDATE that counts an attempt on a row still to be done, RETURNING its id."""
    return (
        update(Inbox)
        .where(
            Inbox.id == inbox_id, Inbox.status.in_((*InboxStatus.UNFINISHED, InboxStatus.PARKED))
        )
        .values(
            attempts=Inbox.attempts + 1,
            touched_at=datetime.now(UTC),
            status=case(
                (Inbox.status == InboxStatus.PARKED, InboxStatus.PARKED),
                else_=InboxStatus.PROCESSING,
            ),
        )
        .returning(Inbox.id)
        .execution_options(synchronize_session=False)
    )


def claim(session: Session, inbox_id: int) -> Inbox | None:
    """The row, locked, if it still needs work; None when done or another worker holds it."""
    query = select(Inbox).where(Inbox.id == inbox_id).with_for_update(skip_locked=True)
    row = session.scalars(query).one_or_none()
    if row is None or row.status not in (*InboxStatus.UNFINISHED, InboxStatus.PARKED):
        return None
    return row


def process(session: Session, row: Inbox, settings: Settings) -> Processed:
    provider = providers.get(row.source)
    # A source whose webhooks only name what changed is asked for it here. The row's lock is
    # held meanwhile, which is what keeps a second worker from fetching the same thing.
    payload = providers.fetched(provider, row.topic, strictjson.loads(row.body), settings)
    facts = provider.normalize(row.topic, payload, row.received_at)
    result = Processed()
    orders.lock_tracking_numbers(session, _tracking_numbers(facts))
    groups, parked = _group_by_order(session, facts)
    for order, indexed in groups.items():
        _apply(session, row, order, indexed, result)
    now = datetime.now(UTC)
    row.touched_at = now
    if parked:
        # Applied facts are applied again on release; that is harmless, since applying
        # is idempotent, and it keeps one row's facts together.
        parking.park(session, row, {fact.shipment.tracking_number for fact in parked})
    else:
        row.status, row.processed_at = InboxStatus.PROCESSED, now
        parking.unpark(session, row.id)
    return result


def _tracking_numbers(facts: list[Fact]) -> set[str]:
    numbers = set()
    for fact in facts:
        if isinstance(fact, FulfillmentFact) and fact.tracking_number:
            numbers.add(fact.tracking_number)
        elif isinstance(fact, TrackingFact) and fact.shipment.tracking_number:
            numbers.add(fact.shipment.tracking_number)
    return numbers


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
    if isinstance(fact, OrderFact | FulfillmentFact):
        return orders.lock_or_create(session, fact.platform, fact.order_id)
    ref = fact.shipment
    if ref.fulfillment_id:
        return orders.lock_or_create(session, ref.platform, ref.order_id)
    return orders.find_by_tracking_number(session, ref, fact.occurred_at)


def _apply(session, row: Inbox, order: Order, indexed: list[tuple[int, Fact]], result) -> None:
    before = orders.to_state(order)
    outcome = lifecycle.apply(before, [fact for _, fact in indexed])
    orders.save_state(order, outcome.state)
    session.flush()
    history = [_history_entry(row, order, i, fact, outcome.state) for i, fact in indexed]
    session.execute(insert_ignoring_duplicates(session.connection(), History.__table__), history)
    result.outbox_ids += _queue_notifications(session, order, before, outcome)
    result.unparked_inbox_ids += _unpark(session, indexed)


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
        "shipment_key": lifecycle.shipment_key(state, fact),
        "raw_status": fact.raw_status,
        "detail": fact.detail or fact.message,
    }


def _queue_notifications(session: Session, order: Order, before, outcome) -> list[int]:
    """An outbox row per announced kind, in the transition's own transaction. A customer whose
    email arrives only now still hears about where the order stands."""
    state = outcome.state
    if not state.customer.email:
        return []
    recipient = state.customer.email.strip().lower()
    status = policy.announced_status(state.status, any(s.live for s in state.shipments))
    kind = None
    if outcome.transition:
        kind = policy.kind_to_announce(status, outcome.transition.furthest_stage_before)
    elif not before.customer.email:
        kind = policy.kind_to_announce(status, 0)
    queued = []
    if kind is not None:
        queued += _queue(session, order, kind, recipient) or _revive_stale(
            session, order, kind, recipient
        )
    for number in lifecycle.replaced_tracking_numbers(before, state):
        queued += _queue(session, order, policy.tracking_changed_kind(number), recipient)
    return queued


def _queue(session: Session, order: Order, kind: str, recipient: str) -> list[int]:
    """One row per channel, unless this kind was queued for this recipient before."""
    now = datetime.now(UTC)
    table = Outbox.__table__
    rows = [
        {
            "order_id": order.id,
            "kind": kind,
            "channel": channel,
            "recipient": recipient,
            "status": OutboxStatus.PENDING,
            "attempts": 0,
            "created_at": now,
            "touched_at": now,
        }
        for channel in policy.CHANNELS
    ]
    statement = insert_ignoring_duplicates(session.connection(), table).returning(table.c.id)
    return list(session.scalars(statement, rows))


def _revive_stale(session: Session, order: Order, kind: str, recipient: str) -> list[int]:
    """A message skipped because the news had stopped being true (the order moved back) is
    due again now that it is true again: still at most one ever sent."""
    query = (
        update(Outbox)
        .where(
            Outbox.order_id == order.id,
            Outbox.kind == kind,
            Outbox.recipient == recipient,
            Outbox.status == OutboxStatus.SKIPPED,
            Outbox.last_error.startswith(STALE_PREFIX),
        )
        .values(status=OutboxStatus.PENDING, last_error=None, touched_at=datetime.now(UTC))
        .returning(Outbox.id)
    )
    return list(session.scalars(query))


def _unpark(session: Session, indexed: list[tuple[int, Fact]]) -> list[int]:
    numbers = [
        f.tracking_number
        for _, f in indexed
        if isinstance(f, FulfillmentFact) and f.tracking_number
    ]
    return parking.release(session, numbers)
