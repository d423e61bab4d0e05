"""The use case "check delays": set and clear delay flags, and queue who hears of a new one.

`check_all` first narrows, in one statement, to the orders that may be late now or hold a
flag (store/delay_candidates.py, from delays.cutoffs), then evaluates those with the rules
of delays.py in batches: one transaction and a few set-based statements per batch, each
batch's orders locked. The sweeper runs it every DELAY_CHECK_SECONDS and
`ordertrack delays --once` on demand. `recheck_applied` runs inside the pipeline's own
transaction after an event applies, and only clears: the event may have resolved a delay
(a scan, a delivery), while raising one is the periodic check's job.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from ordertrack import delays, lanes
from ordertrack.lifecycle import OrderState
from ordertrack.notifications import outbox
from ordertrack.settings import Settings
from ordertrack.store import delay_candidates, estimates, flags
from ordertrack.store.models import Order
from ordertrack.store.orders import to_state

#: Orders per transaction: few statements per order, and a lock held for a moment.
BATCH = 2000


@dataclass(frozen=True)
class Change:
    """A flag raised or cleared, as `ordertrack delays --once` prints it."""

    platform: str
    external_id: str
    name: str | None
    kind: str
    parcel: str
    since: datetime
    detail: str


@dataclass
class Checked:
    flagged: list[Change] = field(default_factory=list)
    cleared: list[Change] = field(default_factory=list)
    #: What to enqueue after commit.
    notifications: list[outbox.Queued] = field(default_factory=list)
    #: Orders evaluated (those the cutoffs left, less any a worker held).
    orders: int = 0

    def add(self, other: "Checked") -> None:
        self.flagged += other.flagged
        self.cleared += other.cleared
        self.notifications += other.notifications
        self.orders += other.orders


def check_all(
    sessions: sessionmaker[Session], settings: Settings, now: datetime, batch: int = BATCH
) -> Checked:
    """Every order that may be late or holds a flag, a batch per transaction."""
    plan, book = outbox.plan_for(settings), learned_book(settings, now)
    ids = candidates(sessions, plan, now, book)
    total = Checked()
    for start in range(0, len(ids), batch):
        with sessions.begin() as session:
            total.add(check_batch(session, ids[start : start + batch], plan, now, book))
    return total


def candidates(
    sessions: sessionmaker[Session], plan: outbox.Plan, now: datetime, book: estimates.Book
) -> list[int]:
    """The ids of the orders to evaluate: the cutoffs at `now`, applied in SQL."""
    with sessions() as session:
        least_p90 = book.least_p90(session)  # each carrier's deliveries, read once per check
        limits = delays.cutoffs(now, plan.calendar, plan.rules.delay_policy, least_p90)
        return delay_candidates.order_ids(session, limits)


def learned_book(settings: Settings, now: datetime) -> estimates.Book:
    return estimates.Book(settings.calendar(), now, settings.estimate_window_days)


def check_batch(
    session: Session, ids: list[int], plan: outbox.Plan, now: datetime, book: estimates.Book
) -> Checked:
    """These orders (those no worker holds), evaluated, their flags opened and cleared in
    one statement each, and the news of each new one queued."""
    found = {c.id: c for c in delay_candidates.lock_and_load(session, ids)}
    stored = flags.open_keys(session, found)
    to_open, to_clear = [], []
    for order in found.values():
        learned = book.for_order(session, order, order.state.shipments, order.first_scans)
        should = _should(order.state, order.placed_at, plan, now, learned)
        changes = delays.compare(should, stored.get(order.id, {}))
        to_open += [(order.id, flag) for flag in changes.to_open]
        to_clear += changes.to_clear
    result = Checked(orders=len(found))
    for row in flags.clear(session, to_clear, now):
        result.cleared.append(_change(found[row.order_id], row))
    opened = flags.open_many(session, to_open, now)
    result.flagged = [_change(found[row.order_id], row) for row in opened]
    raised = [(row.order_id, found[row.order_id].state, row) for row in opened]
    result.notifications = outbox.queue_delays_news(session, raised, plan)
    return result


def recheck_applied(session: Session, order: Order, settings: Settings, now) -> Checked:
    """Clear the order's flags that its new state resolves (the pipeline's transaction)."""
    stored = flags.open_keys(session, [order.id]).get(order.id)
    if not stored:
        return Checked()
    plan, state = outbox.plan_for(settings), to_state(order)
    learned = learned_book(settings, now).for_order(session, order, state.shipments)
    should = _should(state, order.placed_at or order.created_at, plan, now, learned)
    changes = delays.compare(should, stored)
    cleared = flags.clear(session, changes.to_clear, now)
    return Checked(cleared=[_change(order, row) for row in cleared])


def _should(
    state: OrderState,
    placed_at: datetime,
    plan: outbox.Plan,
    now: datetime,
    learned: Mapping[str, lanes.Learned],
) -> list[delays.Flag]:
    return delays.open_flags(state, placed_at, now, plan.calendar, plan.rules.delay_policy, learned)


def _change(order, row) -> Change:
    """`order`: an Order or a delay_candidates.Candidate; `row`: a flag's row."""
    return Change(
        order.platform, order.external_id, order.name, row.kind, row.parcel, row.since, row.detail
    )
