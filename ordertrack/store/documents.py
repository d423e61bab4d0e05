"""Read models for the API: an order with its shipments, history and notifications; and a
delay flag as a person reads it (the console, the digest)."""

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from ordertrack import delays
from ordertrack.business_days import Calendar
from ordertrack.lanes import WINDOW_DAYS, Learned
from ordertrack.lifecycle.wording import progress_summary
from ordertrack.masking import mask_recipient
from ordertrack.notifications.news_rules import parcel_key
from ordertrack.store import estimates, flags
from ordertrack.store.flag_models import DelayFlag
from ordertrack.store.models import History, Inbox, Order, Outbox, OutboxAttempt, Shipment
from ordertrack.store.orders import to_state


def find_order(session: Session, platform: str, external_id: str) -> Order | None:
    query = (
        select(Order)
        .where(Order.platform == platform, Order.external_id == external_id)
        .options(selectinload(Order.shipments))
    )
    return session.scalars(query).one_or_none()


def find_shipment(session: Session, carrier: str, tracking_number: str) -> Shipment | None:
    query = (
        select(Shipment)
        .where(
            Shipment.tracking_number == tracking_number,
            func.lower(Shipment.carrier) == carrier.lower(),
        )
        .order_by(Shipment.fulfilled_at.desc().nulls_last(), Shipment.id.desc())
        .limit(1)
    )
    return session.scalars(query).one_or_none()


def order_document(
    session: Session, order: Order, calendar: Calendar | None = None, now: datetime | None = None
) -> dict:
    """The whole order; `calendar` (the shop's business days) dates learned estimates."""
    open_flags = flags.open_by_order(session, [order.id])[order.id]
    learned = learned_estimates(session, order, calendar, now)
    return order_summary(order, open_flags, learned) | {
        "history": history_documents(session, order.id),
        "notifications": notification_documents(session, order.id),
    }


def learned_estimates(
    session: Session,
    order: Order,
    calendar: Calendar | None = None,
    now: datetime | None = None,
    window_days: int = WINDOW_DAYS,
) -> dict[str, Learned]:
    book = estimates.Book(calendar or Calendar(), now or datetime.now(UTC), window_days)
    return book.for_order(session, order, to_state(order).shipments)


def order_summary(
    order: Order, open_flags=(), learned: Mapping[str, Learned] | None = None
) -> dict:
    """An order as a list shows it: the document without its history and notifications,
    with its open delay flags (`open_flags`, oldest first). Lists leave `learned` out: an
    estimate per parcel would cost a lane look-up per row."""
    learned = learned or {}
    return {
        "platform": order.platform,
        "external_id": order.external_id,
        "name": order.name,
        "status": order.status,
        "platform_status": order.platform_status,
        "progress": progress_summary(to_state(order)),
        "updated_at": order.updated_at.isoformat(),
        "shipments": [shipment_document(s, learned.get(s.key)) for s in order.shipments],
        "flags": [flags.flag_document(flag) for flag in open_flags],
    }


def shipment_document(shipment: Shipment, learned: Learned | None = None) -> dict:
    return {
        "carrier": shipment.carrier or shipment.reported_carrier,
        "tracking_number": shipment.tracking_number,
        "tracking_url": shipment.tracking_url,
        "fulfillment_id": shipment.fulfillment_id,
        "status": shipment.status,
        "status_detail": shipment.detail,
        "raw_status": shipment.raw_status,
        "status_at": _iso(shipment.status_at),
        "est_delivery": _iso(shipment.est_delivery),
        "learned_estimate": learned.document() if learned else None,
        "cancelled": shipment.cancelled,
        "removed": shipment.removed,
    }


def history_documents(session: Session, order_id: int) -> list[dict]:
    query = (
        select(History, Inbox.topic, Inbox.dedupe_key)
        .join(Inbox, Inbox.id == History.inbox_id)
        .where(History.order_id == order_id)
        .order_by(History.occurred_at, History.inbox_id, History.fact_index)
    )
    return [
        {
            "occurred_at": entry.occurred_at.isoformat(),
            "kind": entry.kind,
            "status": entry.status,
            "raw_status": entry.raw_status,
            "detail": entry.detail,
            "shipment": entry.shipment_key,
            "source_event": {
                "inbox_id": entry.inbox_id,
                "source": entry.source,
                "topic": topic,
                "delivery_id": dedupe_key,
            },
        }
        for entry, topic, dedupe_key in session.execute(query)
    ]


def notification_documents(session: Session, order_id: int) -> list[dict]:
    """An order's messages, each with every attempt at sending it."""
    query = select(Outbox).where(Outbox.order_id == order_id).order_by(Outbox.id)
    rows = list(session.scalars(query))
    attempts = select(OutboxAttempt).where(OutboxAttempt.outbox_id.in_([r.id for r in rows]))
    log: dict[int, list[dict]] = {}
    for attempt in session.scalars(attempts.order_by(OutboxAttempt.id)):
        log.setdefault(attempt.outbox_id, []).append(
            {
                "attempt": attempt.attempt,
                "at": attempt.at.isoformat(),
                "outcome": attempt.outcome,
                "reason": attempt.reason,
            }
        )
    return [notification_document(row) | {"attempt_log": log.get(row.id, [])} for row in rows]


def notification_document(row: Outbox) -> dict:
    return {
        "id": row.id,
        "kind": row.kind,
        # The parcel a parcel's news is about (its shipment key); None for the order's news.
        "parcel": parcel_key(row.parcel) or None,
        "channel": row.channel,
        "recipient": mask_recipient(row.channel, row.recipient),
        "status": row.status,
        "attempts": row.attempts,
        "reason": row.last_error,
        "created_at": row.created_at.isoformat(),
        "due_at": _iso(row.due_at),
        "sent_at": _iso(row.sent_at),
    }


def notifications_with_status(session: Session, status: str, limit: int = 200) -> list[dict]:
    """The merchant's view across orders, newest first: which messages failed, and why."""
    query = (
        select(Outbox, Order.platform, Order.external_id)
        .join(Order, Order.id == Outbox.order_id)
        .where(Outbox.status == status)
        .order_by(Outbox.id.desc())
        .limit(limit)
    )
    return [
        notification_document(row) | {"order": {"platform": platform, "external_id": external}}
        for row, platform, external in session.execute(query)
    ]


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def unknown_codes(session: Session) -> list[dict]:
    """Every status code a provider sent that its table does not know, with how often and
    when last: what to add to the table, instead of a silent guess."""
    query = (
        select(
            History.source,
            History.raw_status,
            func.count().label("count"),
            func.max(History.occurred_at).label("last_seen"),
        )
        .where(History.status == "unknown")
        .group_by(History.source, History.raw_status)
        .order_by(func.count().desc(), History.source, History.raw_status)
    )
    return [
        {"source": source, "raw_status": raw, "count": count, "last_seen": _iso(last_seen)}
        for source, raw, count, last_seen in session.execute(query)
    ]


def flag_row(flag: DelayFlag, order: Order, now: datetime) -> dict:
    """A delay flag for people: the kind in words beside its code, the parcel by carrier and
    tracking number (the stored key means nothing to a merchant), since when and how long."""
    return {
        "kind": flag.kind,
        "words": delays.WORDS.get(flag.kind, flag.kind),
        "parcel": parcel_label(order, flag.parcel),
        "since": flag.since,
        "for": how_long(flag.since, now),
        "detail": flag.detail,
        "order": order_label(order),
        "platform": order.platform,
        "external_id": order.external_id,
    }


def order_label(order: Order) -> str:
    return order.name or f"{order.platform} {order.external_id}"


def parcel_label(order: Order, key: str) -> str:
    """ "carrier tracking-number" of the flag's parcel; "the order" for the order's own."""
    if key == delays.ORDER:
        return "the order"
    for shipment in order.shipments:
        if shipment.key == key:
            carrier = shipment.carrier or shipment.reported_carrier or "?"
            return f"{carrier} {shipment.tracking_number or ''}".strip()
    return key


def how_long(since: datetime, now: datetime) -> str:
    """A duration as a person says it: days and hours, or hours, or minutes."""
    seconds = max(0, int((now - since).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, minutes = rest // 3600, rest % 3600 // 60

    def unit(n: int, name: str) -> str:
        return f"{n} {name}{'s' if n != 1 else ''}"

    if days:
        return unit(days, "day") + (f" {unit(hours, 'hour')}" if hours else "")
    if hours:
        return unit(hours, "hour")
    return unit(minutes, "minute")
