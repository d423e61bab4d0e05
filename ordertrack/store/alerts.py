"""Reading and writing alerts, and the inbox questions the silence alert asks."""

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ordertrack.store.alert_models import Alert, DigestSent, WebhookStatus
from ordertrack.store.inbox import insert_ignoring_duplicates
from ordertrack.store.models import Inbox


def insert(session: Session, kind: str, key: str, detail: dict, now: datetime) -> int | None:
    """The new alert's id, or None when one with this key was raised before: once only."""
    values = {
        "kind": kind,
        "key": key[:255],
        "detail": detail,
        "created_at": now,
        "webhook_status": WebhookStatus.PENDING,
        "webhook_attempts": 0,
        "webhook_due_at": now,
    }
    statement = insert_ignoring_duplicates(session.connection(), Alert.__table__)
    return session.execute(statement.values(**values).returning(Alert.id)).scalar()


def due_for_webhook(session: Session, now: datetime, limit: int = 50) -> list[int]:
    query = (
        select(Alert.id)
        .where(Alert.webhook_status == WebhookStatus.PENDING, Alert.webhook_due_at <= now)
        .order_by(Alert.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def claim_webhook(session: Session, alert_id: int, now: datetime, lease_until: datetime):
    """Count an attempt and hold the alert until `lease_until`, in one UPDATE; None when it
    is no longer due (sent meanwhile, or another sweeper holds it)."""
    query = (
        update(Alert)
        .where(
            Alert.id == alert_id,
            Alert.webhook_status == WebhookStatus.PENDING,
            Alert.webhook_due_at <= now,
        )
        .values(webhook_attempts=Alert.webhook_attempts + 1, webhook_due_at=lease_until)
        .returning(Alert.id, Alert.kind, Alert.detail, Alert.created_at, Alert.webhook_attempts)
        .execution_options(synchronize_session=False)
    )
    return session.execute(query).first()


def record_webhook(session: Session, alert_id: int, attempt: int, **values) -> None:
    """This attempt's outcome, only while the alert is still this attempt's."""
    query = (
        update(Alert)
        .where(Alert.id == alert_id, Alert.webhook_attempts == attempt)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.execute(query)


def undigested(session: Session, limit: int = 500) -> list[Alert]:
    query = select(Alert).where(Alert.digested_at.is_(None)).order_by(Alert.id).limit(limit)
    return list(session.scalars(query))


def last_digest_at(session: Session) -> datetime | None:
    return session.scalar(select(func.max(DigestSent.sent_at)))


def mark_digested(session: Session, ids: list[int], now: datetime, flags: int = 0) -> None:
    """The alerts listed, and the digest itself (its time starts the next hour)."""
    if ids:
        query = update(Alert).where(Alert.id.in_(ids)).values(digested_at=now)
        session.execute(query.execution_options(synchronize_session=False))
    session.add(DigestSent(sent_at=now, alerts=len(ids), flags=flags))


def last_received(session: Session, source: str) -> datetime | None:
    """When the source's latest webhook arrived (ix_inbox_source_received answers it)."""
    query = (
        select(Inbox.received_at)
        .where(Inbox.source == source)
        .order_by(Inbox.received_at.desc())
        .limit(1)
    )
    return session.scalar(query)


def first_received(session: Session) -> datetime | None:
    """When the service first heard from anyone: the start of a silence never broken."""
    return session.scalar(select(Inbox.received_at).order_by(Inbox.id).limit(1))
