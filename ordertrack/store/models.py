"""SQLAlchemy 2 typed models: the inbox (every verified webhook, raw), the canonical order
state, its history, and the outbox of notifications. The database is the source of truth;
the queue only ever carries these rows' ids."""

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, query_expression, relationship

#: SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
Id = BigInteger().with_variant(Integer(), "sqlite")
#: The largest id a row can have (BIGINT; SQLite's INTEGER is as wide). A larger number names
#: no row, and PostgreSQL refuses it as a parameter: the edges answer "no such row" first.
ID_MAX = 2**63 - 1


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend: SQLite would hand back naive ones, and the
    lifecycle compares event times across sources."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime()}


class InboxStatus:
    PENDING = "pending"
    PROCESSING = "processing"
    PROCESSED = "processed"
    IGNORED = "ignored"
    PARKED = "parked"
    FAILED = "failed"
    #: Rows the sweeper re-drives if they sit untouched too long.
    UNFINISHED = (PENDING, PROCESSING)


class Inbox(Base):
    """A verified webhook exactly as received, committed before the sender gets its 2xx."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("source", "dedupe_key", name="uq_inbox_source_dedupe_key"),
        Index("ix_inbox_status_touched", "status", "touched_at"),
        #: A source's latest webhook, for the silence alert, without a scan of the inbox.
        Index("ix_inbox_source_received", "source", "received_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(128))
    headers: Mapped[dict] = mapped_column(JSON)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default=InboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    touched_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    #: Whether tracking numbers are parked for the row, where the query that loaded it asked
    #: (`pipeline.claim_many`); None when not asked.
    has_parked_numbers: Mapped[bool | None] = query_expression()


class ParkedNumber(Base):
    """A tracking number a parked carrier event waits for: a row per number, as one push can
    report several parcels (FedEx). A fulfillment naming any of them releases the event."""

    __tablename__ = "parked_numbers"
    __table_args__ = (Index("ix_parked_numbers_tracking_number", "tracking_number"),)

    inbox_id: Mapped[int] = mapped_column(
        ForeignKey("inbox.id", ondelete="CASCADE"), primary_key=True
    )
    tracking_number: Mapped[str] = mapped_column(String(64), primary_key=True)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("platform", "external_id", name="uq_orders_platform_id"),
        # The merchant's list: newest change first, keyset-paged, with or without a status.
        Index("ix_orders_updated", "updated_at", "id"),
        Index("ix_orders_status_updated", "status", "updated_at", "id"),
        # Search by order number, whatever the platform.
        Index("ix_orders_external_id", "external_id"),
        Index("ix_orders_name", "name"),
        # The reports select a period's orders by when they reached us.
        Index("ix_orders_created", "created_at"),
        # ... by the customer's email, or the start of their name, in any case.
        Index("ix_orders_email_lower", func.lower(text("email"))),
        Index(
            "ix_orders_customer_name_lower",
            func.lower(text("customer_name")),
            postgresql_ops={"lower(customer_name)": "text_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    customer_name: Mapped[str | None] = mapped_column(String(200))
    sms_consent: Mapped[bool | None] = mapped_column(Boolean)
    locale: Mapped[str | None] = mapped_column(String(16))
    country_code: Mapped[str | None] = mapped_column(String(2))
    province_code: Mapped[str | None] = mapped_column(String(8))
    postcode: Mapped[str | None] = mapped_column(String(16))
    items: Mapped[list] = mapped_column(JSON, default=list)
    info_at: Mapped[datetime | None]
    platform_status: Mapped[str] = mapped_column(String(32))
    platform_status_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(32))
    furthest_stage: Mapped[int] = mapped_column(Integer, default=0)
    fulfillment_list: Mapped[list | None] = mapped_column(JSON)
    fulfillment_list_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    #: Milestones, the earliest the history holds (store/milestones.py): placed is the
    #: platform's creation time, or ours when it never said.
    placed_at: Mapped[datetime | None]
    shipped_at: Mapped[datetime | None]
    first_scan_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]

    shipments: Mapped[list["Shipment"]] = relationship(
        back_populates="order", order_by="Shipment.id", cascade="all, delete-orphan"
    )


class Shipment(Base):
    __tablename__ = "shipments"
    __table_args__ = (
        UniqueConstraint("order_id", "key", name="uq_shipments_order_key"),
        Index("ix_shipments_tracking_number", "tracking_number"),
        # The order list's carrier filter, in any case: a rare carrier is a look-up, and the
        # expressions' statistics tell the planner how common each carrier is.
        Index("ix_shipments_carrier_lower", func.lower(text("carrier"))),
        Index("ix_shipments_reported_carrier_lower", func.lower(text("reported_carrier"))),
        # Learned estimates read a carrier's recent deliveries (store/estimates.py).
        Index("ix_shipments_status_at", "status", "status_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(80))
    fulfillment_id: Mapped[str | None] = mapped_column(String(64))
    carrier: Mapped[str | None] = mapped_column(String(64))
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    tracking_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32))
    status_at: Mapped[datetime | None]
    raw_status: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(String(64))
    est_delivery: Mapped[date | None] = mapped_column(Date)
    est_delivery_at: Mapped[datetime | None]
    fulfilled_at: Mapped[datetime | None]
    labelled_at: Mapped[datetime | None]
    reported_carrier: Mapped[str | None] = mapped_column(String(64))
    items: Mapped[list] = mapped_column(JSON, default=list)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    #: When the carrier reported a failed delivery attempt (ISO times): each attempt is news.
    failed_attempts: Mapped[list | None] = mapped_column(JSON)
    #: The furthest stage any report of its number named: its news never goes back.
    furthest_stage: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: How many times its tracking number was replaced: each number's news is told afresh.
    relabels: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Milestones, the earliest the history holds (store/milestones.py).
    first_scan_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    first_failed_at: Mapped[datetime | None]
    first_exception_at: Mapped[datetime | None]

    order: Mapped[Order] = relationship(back_populates="shipments")


class History(Base):
    """Every fact ever reported about an order, with the webhook it came from. Facts are kept
    whether or not they moved the state, so the history converges like the state does."""

    __tablename__ = "history"
    __table_args__ = (
        UniqueConstraint("order_id", "inbox_id", "fact_index", name="uq_history_fact"),
        Index("ix_history_order_time", "order_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inbox.id"))
    fact_index: Mapped[int] = mapped_column(Integer)
    shipment_key: Mapped[str | None] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str | None] = mapped_column(String(32))
    raw_status: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(32))


class OutboxStatus:
    PENDING = "pending"
    SENDING = "sending"
    #: The last attempt may have reached the recipient, and we could not tell (Twilio answered
    #: 5xx or not at all): tried again like `pending`, but a text is first looked up in
    #: Twilio's list, so a text Twilio did take is recorded sent, not sent twice.
    AMBIGUOUS = "ambiguous"
    SENT = "sent"
    #: The channel's provider confirmed it reached the recipient (Twilio's status callback).
    DELIVERED = "delivered"
    FAILED = "failed"
    #: Not sent on purpose: stale by the time it was due, or the channel is not configured.
    SKIPPED = "skipped"
    #: Due to be tried (again) when their moment comes; the sweeper re-drives them.
    WAITING = (PENDING, AMBIGUOUS)
    UNFINISHED = (PENDING, SENDING, AMBIGUOUS)
    ALL = (PENDING, SENDING, AMBIGUOUS, SENT, DELIVERED, FAILED, SKIPPED)


#: The parcel of an order's own news (cancelled, refunded, a return's step): not a parcel's.
#: A parcel's news names its shipment key ("#2" after its number was replaced twice), so a
#: parcel given a new number hears that number's news afresh (notifications/news_rules.py).
ORDER_NEWS = ""


class Outbox(Base):
    """One notification, unique per (order, parcel, kind, channel, recipient): at most once,
    ever. `parcel` names the parcel and its number for a parcel's news, ORDER_NEWS for the
    order's."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint(
            "order_id", "parcel", "kind", "channel", "recipient", name="uq_outbox_once"
        ),
        Index("ix_outbox_status_touched", "status", "touched_at"),
        # The notifications report: a period's messages.
        # The notifications report counts a period's messages by channel and status from
        # the index alone on PostgreSQL.
        Index("ix_outbox_created", "created_at", postgresql_include=["channel", "status"]),
        # Twilio's status callbacks find their text by its id; emails have none.
        Index(
            "ix_outbox_provider_message_id",
            "provider_message_id",
            postgresql_where=text("provider_message_id IS NOT NULL"),
            sqlite_where=text("provider_message_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    parcel: Mapped[str] = mapped_column(String(80), default=ORDER_NEWS, server_default="")
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    touched_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    message_id: Mapped[str | None] = mapped_column(String(255))
    #: Not to be sent before this (quiet hours for texts; a short wait so that news landing
    #: together goes out as one message). None: at once.
    due_at: Mapped[datetime | None]
    #: The channel provider's id for the message (Twilio's Message SID), for its callbacks.
    provider_message_id: Mapped[str | None] = mapped_column(String(64))


class OutboxAttempt(Base):
    """Every attempt at sending one notification, with its outcome: what the merchant sees
    when a webhook endpoint or a number keeps failing."""

    __tablename__ = "outbox_attempts"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)


class Unsubscribe(Base):
    """A recipient who asked, through the signed link in a message, to hear no more."""

    __tablename__ = "unsubscribes"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320), primary_key=True)
    created_at: Mapped[datetime]


# Returns and console users live in their own modules; imported here so the metadata (and
# Alembic) has them.
from ordertrack.store import (  # noqa: E402, F401
    alert_models,
    estimate_models,
    flag_models,
    return_models,
    rollup_models,
    user_models,
)
