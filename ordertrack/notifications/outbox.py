"""What a transition puts in the outbox, in the transition's own transaction: a row per
(parcel, kind, channel, recipient) the policy names, each at most once ever, each with the moment it
is due (a short wait so news landing together goes out as one message; quiet hours for texts,
in the customer's own time zone: deferred to the morning, never dropped)."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from sqlalchemy import update
from sqlalchemy.orm import Session

from ordertrack.business_days import Calendar
from ordertrack.lifecycle.relabelling import replaced_tracking_numbers
from ordertrack.notifications import news_rules, policy_file
from ordertrack.notifications.sender import STALE_PREFIX
from ordertrack.notifications.timezones import customer_timezone
from ordertrack.settings import Settings
from ordertrack.statuses import FINAL_ORDER_STATUSES
from ordertrack.store.bulk import insert_ignoring_duplicates_returning
from ordertrack.store.models import ORDER_NEWS, Order, Outbox, OutboxStatus
from ordertrack.store.orders import to_state

#: The merchant's endpoint is one recipient, whatever its URL (which may change).
MERCHANT = "merchant"


@dataclass(frozen=True)
class AddedRow:
    id: int
    due_at: datetime | None


@dataclass(frozen=True)
class Plan:
    """The policy, and which channels this deployment has set up."""

    rules: policy_file.Rules
    coalesce: timedelta
    fallback_timezone: str
    #: The shop's business days, for the delay flags.
    calendar: Calendar | None = None


def plan_for(settings: Settings) -> Plan:
    unavailable = []
    if not (settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from):
        unavailable.append(policy_file.SMS)
    if not (settings.merchant_webhook_url and settings.merchant_webhook_secret):
        unavailable.append(policy_file.MERCHANT_WEBHOOK)
    return Plan(
        rules=_rules(
            settings.notification_policy_file,
            settings.sms_quiet_hours,
            tuple(sorted(settings.sla_days.items())),
            *unavailable,
        ),
        coalesce=timedelta(seconds=settings.notify_coalesce_seconds),
        fallback_timezone=settings.shop_timezone,
        calendar=settings.calendar(),
    )


@cache
def _rules(
    path: str | None, quiet_hours: str | None, sla_days, *unavailable: str
) -> policy_file.Rules:
    """Read once per process: the policy file is checked at start-up and does not change."""
    return policy_file.load_rules(
        path, sms_quiet_hours=quiet_hours, unavailable=unavailable, sla_days=dict(sla_days)
    )


def add_rows(
    session: Session, order: Order, before, outcome, plan: Plan, *, refund_told: bool = False
) -> list[AddedRow]:
    """The rows this outcome's news needs: each parcel's, the order's own, a new tracking
    number's, and the merchant's events. `refund_told`: the refund that moved the order was
    a return's, which the return's own news tells."""
    state = outcome.state
    replaced = replaced_tracking_numbers(before, state)
    news = _parcel_news(before, state, replaced) + _order_news(before, outcome)
    if refund_told:
        news = [(parcel, kind) for parcel, kind in news if kind != news_rules.ORDER_REFUNDED]
    added: list[AddedRow] = []
    for parcel, kind in news:
        added += _add_kind_rows(session, order, kind, state.customer, plan, parcel, revive=True)
    for number in replaced:
        kind = news_rules.tracking_changed_kind(number)
        added += _add_kind_rows(session, order, kind, state.customer, plan, ORDER_NEWS)
    return added + _merchant_events(session, order, before, outcome, plan)


def _merchant_events(session, order: Order, before, outcome, plan: Plan) -> list[AddedRow]:
    """The merchant hears of every move of the order (and of the order itself when it first
    appears) and of each parcel."""
    state, due = outcome.state, datetime.now(UTC) + plan.coalesce
    news = outcome.transition or (state.info_at and not before.info_at)
    events = [(ORDER_NEWS, news and plan.rules.merchant_event_type(state.status))]
    for parcel in state.shipments:
        if _moved(before.shipment(parcel.key), parcel):
            event = plan.rules.merchant_shipment_event(parcel)
            events.append((news_rules.parcel_ref(parcel), event))
    added = []
    for ref, event in events:
        if event:
            ids = _insert(session, order, event, policy_file.MERCHANT_WEBHOOK, MERCHANT, due, ref)
            added += [AddedRow(i, due) for i in ids]
    return added


def _moved(before, after) -> bool:
    """Whether a parcel's latest report changed (or it is new, or was cancelled): learning of
    an older report, such as an earlier failed attempt, is history, not news."""
    if before is None:
        return True
    return (before.status, before.status_at, before.live) != (
        after.status,
        after.status_at,
        after.live,
    )


def add_return_news(
    session: Session, order: Order, return_id: int, status: str, plan: Plan
) -> list[AddedRow]:
    """A return moved: its step's news to the customer, on the channels the policy names."""
    kind = news_rules.return_kind(status, return_id)
    if kind is None:
        return []
    return _add_kind_rows(session, order, kind, to_state(order).customer, plan, ORDER_NEWS)


def add_delay_news(
    session: Session, raised: Iterable[tuple[int, object, object]], plan: Plan
) -> list[AddedRow]:
    """Delay flags were raised, (order id, order state, flag) each: for each, the merchant's
    `order.delayed` event, and the customer's "taking longer than usual" when the policy
    tells them of this kind of delay. Each kind carries the flag's id: once per delay. One
    statement for all: the delay check raises thousands at a time. Who hears of an order's
    delays, and when, is worked out once per order."""
    now, rows, reach = datetime.now(UTC), [], {}
    merchant = plan.rules.merchant_delay_event()
    for order_id, state, flag in raised:
        if order_id not in reach:
            reach[order_id] = _customer_reach(plan, state.customer, now)
        rows += _delay_rows(order_id, state, flag, plan, now, reach[order_id], merchant)
    return _insert_rows(session, rows, now)


def _customer_reach(plan: Plan, customer, now: datetime) -> list[tuple[str, str, datetime]]:
    """(channel, recipient, due) for each channel that tells this customer of a delay."""
    return [
        (channel, recipient, _due(plan, channel, customer, now))
        for channel in plan.rules.channels_for(news_rules.DELAYED, customer)
        for recipient in policy_file.recipients(channel, customer)
    ]


def _delay_rows(order_id: int, state, flag, plan: Plan, now: datetime, reach, merchant):
    parcel = ORDER_NEWS
    if flag.parcel:
        shipment = state.shipment(flag.parcel)
        parcel = news_rules.parcel_ref(shipment) if shipment else flag.parcel
    rows = []
    if flag.kind in plan.rules.delay_policy.tell_customer:
        kind = news_rules.delayed_kind(flag.id)
        rows += [_row(order_id, kind, channel, to, due, parcel) for channel, to, due in reach]
    if merchant:
        kind, due = f"{merchant}:{flag.id}", now + plan.coalesce
        rows.append(_row(order_id, kind, policy_file.MERCHANT_WEBHOOK, MERCHANT, due, parcel))
    return rows


def _add_kind_rows(
    session, order: Order, kind: str, customer, plan: Plan, parcel: str, revive=False
) -> list[AddedRow]:
    now, added = datetime.now(UTC), []
    for channel in plan.rules.channels_for(kind, customer):
        due = _due(plan, channel, customer, now)
        for recipient in policy_file.recipients(channel, customer):
            ids = _insert(session, order, kind, channel, recipient, due, parcel)
            if not ids and revive:
                ids = _revive_stale(session, order, kind, channel, recipient, due, parcel)
            added += [AddedRow(i, due) for i in ids]
    return added


def _parcel_news(before, state, replaced: list[str]) -> list[tuple[str, str]]:
    """(parcel, kind) for each parcel whose latest report changed, and for every parcel when
    the customer's address arrives only now (where each stands). Nothing once the order is
    cancelled or refunded: the order's own news says it. A parcel that only got a new number
    (WooCommerce adds it as a new parcel) has shipped already: the new number is its news."""
    if state.status in FINAL_ORDER_STATUSES:
        return []
    reached = _reachable(state.customer) and not _reachable(before.customer)
    news = []
    for parcel in state.shipments:
        old = before.shipment(parcel.key)
        if not (reached or _moved(old, parcel)):
            continue
        kind = news_rules.parcel_news(None if reached else old, parcel)
        if kind == "shipped" and parcel.tracking_number in replaced:
            continue
        if kind:
            news.append((news_rules.parcel_ref(parcel), kind))
    return news


def _order_news(before, outcome) -> list[tuple[str, str]]:
    """The order's own news on a move (cancelled, refunded, on hold), and, for an order the
    platform moves on without naming any parcel, where it stands."""
    state = outcome.state
    reached = _reachable(state.customer) and not _reachable(before.customer)
    if not (outcome.transition or reached):
        return []
    kind = news_rules.order_kind(state.status)
    if kind is None and not any(s.live for s in state.shipments):
        furthest = outcome.transition.furthest_stage_before if outcome.transition else 0
        kind = news_rules.kind_to_announce(
            news_rules.announced_status(state.status, False), furthest
        )
    return [(ORDER_NEWS, kind)] if kind else []


def _reachable(customer) -> bool:
    return any(
        policy_file.recipients(channel, customer) for channel in policy_file.CUSTOMER_CHANNELS
    )


def _due(plan: Plan, channel: str, customer, now: datetime) -> datetime:
    due = now + plan.coalesce
    quiet = plan.rules.quiet_hours(channel)
    if quiet is None:
        return due
    zone = customer_timezone(customer.country_code, customer.province_code, plan.fallback_timezone)
    return quiet.next_allowed(due, zone)


def _insert(
    session, order: Order, kind: str, channel: str, recipient: str, due, parcel: str
) -> list[int]:
    """The row, unless this parcel's (or the order's) kind went to this recipient on this
    channel before: once, ever."""
    row = _row(order.id, kind, channel, recipient, due, parcel)
    return [added.id for added in _insert_rows(session, [row], datetime.now(UTC))]


def _row(order_id: int, kind: str, channel: str, recipient: str, due, parcel: str) -> dict:
    return {
        "order_id": order_id,
        "parcel": parcel,
        "kind": kind,
        "channel": channel,
        "recipient": recipient,
        "due_at": due,
    }


def _insert_rows(session, rows: list[dict], now: datetime) -> list[AddedRow]:
    """Insert these rows, new and pending, skipping any sent before (the unique once-ever
    key)."""
    new = {"status": OutboxStatus.PENDING, "attempts": 0, "created_at": now, "touched_at": now}
    inserted = insert_ignoring_duplicates_returning(
        session.connection(), Outbox.__table__, rows, ("id", "due_at"), new
    )
    return [AddedRow(row_id, due) for row_id, due in inserted]


def _revive_stale(session, order: Order, kind: str, channel: str, recipient: str, due, parcel: str):
    """A message skipped because the news had stopped being true (the order moved back) is
    due again now that it is true again: still at most one ever sent."""
    query = (
        update(Outbox)
        .where(
            Outbox.order_id == order.id,
            Outbox.parcel == parcel,
            Outbox.kind == kind,
            Outbox.channel == channel,
            Outbox.recipient == recipient,
            Outbox.status == OutboxStatus.SKIPPED,
            Outbox.last_error.startswith(STALE_PREFIX),
        )
        .values(
            status=OutboxStatus.PENDING, last_error=None, touched_at=datetime.now(UTC), due_at=due
        )
        .returning(Outbox.id)
    )
    return list(session.scalars(query))
