"""What a transition puts in the outbox, in the transition's own transaction: a row per
(kind, channel, recipient) the policy names, each at most once ever, each with the moment it
is due (a short wait so news landing together goes out as one message; quiet hours for texts,
in the customer's own time zone: deferred to the morning, never dropped)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from sqlalchemy import update
from sqlalchemy.orm import Session

from ordertrack import lifecycle
from ordertrack.notifications import policy, rules
from ordertrack.notifications.sender import STALE_PREFIX
from ordertrack.notifications.timezones import customer_timezone
from ordertrack.settings import Settings
from ordertrack.store.inbox import insert_ignoring_duplicates
from ordertrack.store.models import Order, Outbox, OutboxStatus
from ordertrack.store.orders import to_state

#: The merchant's endpoint is one recipient, whatever its URL (which may change).
MERCHANT = "merchant"


@dataclass(frozen=True)
class Queued:
    id: int
    due_at: datetime | None


@dataclass(frozen=True)
class Plan:
    """The policy, and which channels this deployment has set up."""

    rules: rules.Rules
    coalesce: timedelta
    fallback_timezone: str


def plan_for(settings: Settings) -> Plan:
    unavailable = []
    if not (settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from):
        unavailable.append(rules.SMS)
    if not (settings.merchant_webhook_url and settings.merchant_webhook_secret):
        unavailable.append(rules.MERCHANT_WEBHOOK)
    return Plan(
        rules=_rules(settings.notification_policy_file, settings.sms_quiet_hours, *unavailable),
        coalesce=timedelta(seconds=settings.notify_coalesce_seconds),
        fallback_timezone=settings.shop_timezone,
    )


@cache
def _rules(path: str | None, quiet_hours: str | None, *unavailable: str) -> rules.Rules:
    """Read once per process: the policy file is checked at start-up and does not change."""
    return rules.load_rules(path, sms_quiet_hours=quiet_hours, unavailable=unavailable)


def queue(session: Session, order: Order, before, outcome, plan: Plan) -> list[Queued]:
    state, now = outcome.state, datetime.now(UTC)
    queued: list[Queued] = []
    kind = _news(before, outcome)
    kinds = [kind] if kind else []
    kinds += [
        policy.tracking_changed_kind(n) for n in lifecycle.replaced_tracking_numbers(before, state)
    ]
    for each in kinds:
        queued += _queue_kind(session, order, each, state.customer, plan, revive=each == kind)
    # The merchant hears of every move, and of the order itself when it first appears.
    news = outcome.transition or (state.info_at and not before.info_at)
    event = news and plan.rules.merchant_event_type(state.status)
    if event:
        due = now + plan.coalesce
        ids = _insert(session, order, event, rules.MERCHANT_WEBHOOK, MERCHANT, due)
        queued += [Queued(i, due) for i in ids]
    return queued


def queue_return_news(
    session: Session, order: Order, return_id: int, status: str, plan: Plan
) -> list[Queued]:
    """A return moved: its step's news to the customer, on the channels the policy names."""
    kind = policy.return_kind(status, return_id)
    if kind is None:
        return []
    return _queue_kind(session, order, kind, to_state(order).customer, plan)


def _queue_kind(session, order: Order, kind: str, customer, plan: Plan, revive=False):
    now, queued = datetime.now(UTC), []
    for channel in plan.rules.channels_for(kind, customer):
        recipient = rules.recipient(channel, customer)
        due = _due(plan, channel, customer, now)
        ids = _insert(session, order, kind, channel, recipient, due)
        if not ids and revive:
            ids = _revive_stale(session, order, kind, channel, recipient, due)
        queued += [Queued(i, due) for i in ids]
    return queued


def _news(before, outcome) -> str | None:
    """The kind this outcome tells the customer: its transition's, or, for a customer whose
    address arrives only now, where the order stands."""
    state = outcome.state
    status = policy.announced_status(state.status, any(s.live for s in state.shipments))
    if outcome.transition:
        return policy.kind_to_announce(status, outcome.transition.furthest_stage_before)
    if _reachable(state.customer) and not _reachable(before.customer):
        return policy.kind_to_announce(status, 0)
    return None


def _reachable(customer) -> bool:
    return any(rules.recipient(channel, customer) for channel in rules.CUSTOMER_CHANNELS)


def _due(plan: Plan, channel: str, customer, now: datetime) -> datetime:
    due = now + plan.coalesce
    quiet = plan.rules.quiet_hours(channel)
    if quiet is None:
        return due
    zone = customer_timezone(customer.country_code, customer.province_code, plan.fallback_timezone)
    return quiet.next_allowed(due, zone)


def _insert(session, order: Order, kind: str, channel: str, recipient: str, due) -> list[int]:
    """The row, unless this kind went to this recipient on this channel before: once, ever."""
    now = datetime.now(UTC)
    row = {
        "order_id": order.id,
        "kind": kind,
        "channel": channel,
        "recipient": recipient,
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "created_at": now,
        "touched_at": now,
        "due_at": due,
    }
    table = Outbox.__table__
    statement = insert_ignoring_duplicates(session.connection(), table).returning(table.c.id)
    return list(session.scalars(statement, [row]))


def _revive_stale(session, order: Order, kind: str, channel: str, recipient: str, due):
    """A message skipped because the news had stopped being true (the order moved back) is
    due again now that it is true again: still at most one ever sent."""
    query = (
        update(Outbox)
        .where(
            Outbox.order_id == order.id,
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
