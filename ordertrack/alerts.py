"""Raising alerts: what needs a person, told to the merchant once. Each is raised in the
transaction of its cause (the pipeline, a final failure), or by the sweeper for a silence,
so an alert exists exactly when its cause was committed.

An alert's `detail` leaves for the merchant's endpoint and inbox as it is: ids, sources and
codes only. A failure's reason is the exception's type for an event (its message may quote
the payload) and the masked reason for a message (SMTP servers quote the address)."""

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ordertrack.facts import Fact, OrderFact, TrackingFact
from ordertrack.masking import mask_recipient
from ordertrack.statuses import ShipmentStatus
from ordertrack.store import alerts as store

UNKNOWN_CODE = "unknown_code"
EVENT_FAILED = "event_failed"
NOTIFICATION_FAILED = "notification_failed"
SOURCE_SILENT = "source_silent"
KINDS = (UNKNOWN_CODE, EVENT_FAILED, NOTIFICATION_FAILED, SOURCE_SILENT)

#: The key of a silence whose source never spoke: it can only be raised once.
NEVER = "never"


def event_type(kind: str) -> str:
    """The merchant webhook's type for an alert's kind: `ops.unknown_code`."""
    return f"ops.{kind}"


def unknown_codes(session: Session, source: str, inbox_id: int, facts: Iterable[Fact], now):
    """One alert per (source, code) no table knows, the first time it is seen."""
    for code in sorted({code for fact in facts if (code := _unknown_code(fact))}):
        detail = {"source": source, "code": code, "inbox_id": inbox_id}
        store.insert(session, UNKNOWN_CODE, f"{UNKNOWN_CODE}:{source}:{code}", detail, now)


def _unknown_code(fact: Fact) -> str | None:
    if isinstance(fact, OrderFact):
        return fact.unknown_status
    if isinstance(fact, TrackingFact) and fact.status is ShipmentStatus.UNKNOWN:
        return fact.raw_status
    return None


def event_failed(session: Session, inbox_id: int, source: str, topic: str, exc, attempts, now):
    """An inbox row given up on: its error's type only, never its message."""
    detail = {
        "inbox_id": inbox_id,
        "source": source,
        "topic": topic,
        "attempts": attempts,
        "reason": type(exc).__name__,
    }
    store.insert(session, EVENT_FAILED, f"{EVENT_FAILED}:{inbox_id}", detail, now)


def notification_failed(session: Session, outbox_id: int, job, reason: str | None, now):
    """A notification given up on, with the recipient masked wherever it appears."""
    masked = mask_recipient(job.channel, job.recipient)
    reason = (reason or "").replace(job.recipient, masked)[:500]
    detail = {
        "outbox_id": outbox_id,
        "order_id": job.order_id,
        "kind": job.kind,
        "channel": job.channel,
        # The merchant's own endpoint is not personal, but its URL may carry a token.
        "recipient": masked if job.channel != "merchant_webhook" else None,
        "attempts": job.attempts,
        "reason": reason,
    }
    store.insert(session, NOTIFICATION_FAILED, f"{NOTIFICATION_FAILED}:{outbox_id}", detail, now)


def check_silence(session: Session, sources: Iterable[str], hours: float, now: datetime) -> int:
    """One alert per silence of each configured source. The key names when the source last
    spoke, so the same silence is told once, and a new one after it spoke again. A source
    that never spoke is silent since the service first heard from anyone."""
    limit = now - timedelta(hours=hours)
    raised = 0
    for source in sorted(sources):
        last = store.last_received(session, source)
        since = last or store.first_received(session)
        if since is None or since > limit:
            continue
        mark = last.isoformat() if last else NEVER
        detail = {"source": source, "last_received_at": last and last.isoformat()}
        detail["silent_hours"] = round((now - since).total_seconds() / 3600, 1)
        if store.insert(session, SOURCE_SILENT, f"{SOURCE_SILENT}:{source}:{mark}", detail, now):
            raised += 1
    return raised
