"""Alerts for the merchant: what needs a person (a code no table knows, an event or a message
failed for good, a source gone silent). A module of its own beside models.py, which imports
it at its end so that Alembic's metadata holds this table too."""

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ordertrack.store.models import Base, Id


class WebhookStatus:
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    #: MERCHANT_WEBHOOK_URL was not set when it was due: the digest still lists it.
    SKIPPED = "skipped"


class Alert(Base):
    """One alert, raised once: `key` names its cause ("unknown_code:ups:ZZ"), so raising it
    again changes nothing. `detail` holds ids and codes only, never personal data, since it
    leaves for the merchant's endpoint and inbox as it is."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("key", name="uq_alerts_key"),
        Index("ix_alerts_webhook_due", "webhook_status", "webhook_due_at"),
        Index("ix_alerts_digested", "digested_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(255))
    detail: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime]
    webhook_status: Mapped[str] = mapped_column(String(16), default=WebhookStatus.PENDING)
    webhook_attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Not tried before this: the retry schedule's next step, or a claimed attempt's lease.
    webhook_due_at: Mapped[datetime | None]
    webhook_sent_at: Mapped[datetime | None]
    webhook_error: Mapped[str | None] = mapped_column(Text)
    #: When an email digest listed it; None while it waits for the next one.
    digested_at: Mapped[datetime | None]


class DigestSent(Base):
    """One email digest sent to MERCHANT_EMAIL: when, and what it listed. The hour between
    digests is counted from here, since a digest may list open delay flags and no alert at
    all (then no alert's `digested_at` records it)."""

    __tablename__ = "digests"
    __table_args__ = (Index("ix_digests_sent_at", "sent_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    sent_at: Mapped[datetime]
    alerts: Mapped[int] = mapped_column(Integer, default=0)
    flags: Mapped[int] = mapped_column(Integer, default=0)
