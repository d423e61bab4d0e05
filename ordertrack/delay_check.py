"""The use case "check delays": set and clear delay flags, and queue who hears of a new one.

`check_all` first narrows, in one statement, to the orders that may be late now or hold a
flag (store/delay_candidates.py, from delays.cutoffs), then evaluates those with the rules
of delays.py in batches: one transaction and a few set-based statements per batch, only the
orders with a flag to open or clear locked (store/delay_rows.py). The sweeper runs it
every DELAY_CHECK_SECONDS and `ordertrack delays --once` on demand. `recheck_applied` runs
inside the pipeline's own transaction after an event applies, and only clears: the event may
have resolved a delay (a scan, a delivery), while raising one is the periodic check's job.
"""

import gc
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from ordertrack import delays, lanes
from ordertrack.lifecycle.state import OrderState
from ordertrack.notifications import outbox
from ordertrack.settings import Settings
from ordertrack.store import delay_candidates, delay_rows, estimates, flags, orders
from ordertrack.store.models import Order
from ordertrack.store.orders import to_state

#: Orders per transaction: few statements per order; the locks (of the orders with a change
#: only) are held for a moment.
BATCH = 2000
#: Batches in flight at once on PostgreSQL.
CONCURRENT = 2


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
    notifications: list[outbox.AddedRow] = field(default_factory=list)
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
    batches = [ids[start : start + batch] for start in range(0, len(ids), batch)]
    return check_batches(sessions, batches, plan, now, book)


def check_batches(
    sessions: sessionmaker[Session],
    batches: list[list[int]],
    plan: outbox.Plan,
    now: datetime,
    book: estimates.Book,
) -> Checked:
    """Each batch in its own transaction; on PostgreSQL two at a time, so that one is
    evaluated in Python while the other waits on the database (SQLite writes one
    transaction at a time). Their orders are disjoint: the two never wait on each other."""

    def one(ids: list[int]) -> Checked:
        with sessions.begin() as session:
            return check_batch(session, ids, plan, now, book)

    postgres = sessions.kw["bind"].dialect.name == "postgresql"
    total = Checked()
    with _collector_paused(), ThreadPoolExecutor(CONCURRENT if postgres else 1) as pool:
        for checked in pool.map(one, batches):
            total.add(checked)
    return total


@contextmanager
def _collector_paused():
    """Python's cycle collector off while the batches run: each batch's thousands of rows
    and states live just long enough to be walked by collection after collection, which
    cost a third of the check. Reference counting frees them as before; the few cycles are
    collected once the check is done."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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
    """These orders, read unlocked and evaluated; those with a flag to open or clear are then
    locked (skipping any a worker holds), evaluated again if they changed meanwhile, and
    their flags opened and cleared in one statement each, the news of new ones queued."""
    read = delay_rows.read(session, ids)
    result, pending = Checked(orders=len(read)), _evaluate(session, read, plan, now, book)
    # Twice at most: the orders that changed between the read and the lock are held after
    # the first pass, so they cannot change again before the second.
    for _ in range(2):
        if not pending:
            break
        held, moved = delay_rows.hold(session, {order.id: order.version for order, _ in pending})
        ready = [(order, changes, held[order.id]) for order, changes in pending if order.id in held]
        result.add(_apply(session, ready, plan, now))
        pending = _evaluate(session, delay_rows.read(session, moved), plan, now, book)
    return result


def _evaluate(
    session: Session,
    orders: list[delay_rows.Candidate],
    plan: outbox.Plan,
    now: datetime,
    book: estimates.Book,
) -> list[tuple[delay_rows.Candidate, delays.Changes]]:
    """Each order's flags as the rules say against those stored: the orders with a change."""
    stored = flags.open_keys(session, [order.id for order in orders])
    found = []
    for order in orders:
        learned = book.for_order(session, order, order.state.shipments, order.first_scans)
        should = _should(order.state, order.placed_at, plan, now, learned)
        changes = delays.compare(should, stored.get(order.id, {}))
        if changes.to_open or changes.to_clear:
            found.append((order, changes))
    return found


def _apply(session, changed, plan: outbox.Plan, now: datetime) -> Checked:
    """Open and clear the flags of these (order, changes, held), and queue the news."""
    held = {order.id: h for order, _, h in changed}
    to_clear = [flag_id for _, changes, _ in changed for flag_id in changes.to_clear]
    to_open = [(order.id, flag) for order, changes, _ in changed for flag in changes.to_open]
    cleared = flags.clear(session, to_clear, now)
    opened = flags.open_many(session, to_open, now)
    # The news needs the customer, which only the lock read.
    states = {
        order.id: OrderState(
            status=order.state.status, customer=h.customer, shipments=order.state.shipments
        )
        for order, _, h in changed
    }
    raised = [(row.order_id, states[row.order_id], row) for row in opened]
    return Checked(
        flagged=[_change(held[row.order_id], row) for row in opened],
        cleared=[_change(held[row.order_id], row) for row in cleared],
        notifications=outbox.add_delay_news(session, raised, plan),
    )


def recheck_applied(session: Session, order: Order, settings: Settings, now) -> Checked:
    """Clear the order's flags that its new state resolves (the pipeline's transaction)."""
    if orders.holds_without_flags(session, order.id):
        return Checked()
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
    """`order`: an Order or a delay_rows.Held; `row`: a flag's row."""
    return Change(
        order.platform, order.external_id, order.name, row.kind, row.parcel, row.since, row.detail
    )
