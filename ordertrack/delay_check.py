"""The use case "check delays": set and clear delay flags, and queue who hears of a new one.

`check_all` walks the orders that may be late in batches (keyset by id, one transaction and
a few set-based statements per batch); the sweeper runs it every DELAY_CHECK_SECONDS and
`ordertrack delays --once` on demand. `recheck_applied` runs inside the pipeline's own
transaction after an event applies, and only clears: the event may have resolved a delay
(a scan, a delivery), while raising one is the periodic check's job.
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from ordertrack import delays
from ordertrack.notifications import outbox
from ordertrack.settings import Settings
from ordertrack.store import estimates, flags
from ordertrack.store.flag_models import DelayFlag
from ordertrack.store.models import Order
from ordertrack.store.orders import to_state

#: Orders per transaction: small enough that an order's lock is held only briefly.
BATCH = 200


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
    total, after = Checked(), 0
    book = learned_book(settings, now)  # each carrier's deliveries read once per check
    while True:
        with sessions.begin() as session:
            orders = flags.orders_to_check(session, after, batch)
            if not orders:
                return total
            total.add(check_batch(session, orders, settings, now, book))
            after = orders[-1].id


def learned_book(settings: Settings, now: datetime) -> estimates.Book:
    return estimates.Book(settings.calendar(), now, settings.estimate_window_days)


def check_batch(
    session: Session, orders: list[Order], settings: Settings, now, book=None
) -> Checked:
    placed = flags.placed_at(session, orders)
    stored = flags.open_by_order(session, [order.id for order in orders])
    scans = estimates.first_scans(session, [order.id for order in orders])
    book = book or learned_book(settings, now)
    result, plan = Checked(orders=len(orders)), outbox.plan_for(settings)
    for order in orders:
        flagged = _check(
            session, order, placed.get(order.id), stored[order.id], plan, now, book, scans
        )
        result.add(flagged)
    return result


def recheck_applied(session: Session, order: Order, settings: Settings, now) -> Checked:
    """Clear the order's flags that its new state resolves (the pipeline's transaction)."""
    stored = flags.open_by_order(session, [order.id])[order.id]
    if not stored:
        return Checked()
    placed = flags.placed_at(session, [order])[order.id]
    plan = outbox.plan_for(settings)
    book = learned_book(settings, now)
    return _check(session, order, placed, stored, plan, now, book, None, raise_new=False)


def _check(
    session,
    order: Order,
    placed,
    stored: list[DelayFlag],
    plan,
    now,
    book: estimates.Book,
    scans,
    raise_new=True,
):
    """`scans`: the batch's first carrier scans (None: read this order's)."""
    state = to_state(order)
    policy = plan.rules.delay_policy
    learned = book.for_order(session, order, state.shipments, scans)
    should = delays.open_flags(state, placed, now, plan.calendar, policy, learned)
    changes = delays.compare(should, {(f.parcel, f.kind): f.id for f in stored})
    result = Checked()
    for row in flags.clear(session, changes.to_clear, now):
        result.cleared.append(_change(order, row))
    if raise_new:
        for row in flags.open_flags(session, order.id, changes.to_open, now):
            result.flagged.append(_change(order, row))
            result.notifications += outbox.queue_delay_news(session, order, state, row, plan)
    return result


def _change(order: Order, row: DelayFlag) -> Change:
    return Change(
        order.platform, order.external_id, order.name, row.kind, row.parcel, row.since, row.detail
    )
