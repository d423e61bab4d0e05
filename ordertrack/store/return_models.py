"""Returns, their items and every step of their line. A module of its own beside models.py,
which imports it at its end so that Alembic's metadata holds these tables too."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ordertrack.store.models import Base, Id


class Return(Base):
    """A customer's request to send items back, and where it stands on its own line."""

    __tablename__ = "returns"
    __table_args__ = (
        Index("ix_returns_order_id", "order_id"),
        Index("ix_returns_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    carrier: Mapped[str | None] = mapped_column(String(64))
    #: The merchant's latest note (why rejected, what to do next); each is also in the events.
    note: Mapped[str | None] = mapped_column(Text)

    items: Mapped[list["ReturnItem"]] = relationship(
        order_by="ReturnItem.line_item_id", cascade="all, delete-orphan"
    )
    events: Mapped[list["ReturnEvent"]] = relationship(
        order_by="ReturnEvent.id", cascade="all, delete-orphan"
    )


class ReturnItem(Base):
    """How many of one order line the customer sends back. The title is kept as it was."""

    __tablename__ = "return_items"

    return_id: Mapped[int] = mapped_column(
        ForeignKey("returns.id", ondelete="CASCADE"), primary_key=True
    )
    line_item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    quantity: Mapped[int] = mapped_column(Integer)


class ReturnEvent(Base):
    """One step on a return's line: when, to which status, by whom, with what note."""

    __tablename__ = "return_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    #: customer | merchant | platform | carrier
    actor: Mapped[str] = mapped_column(String(16))
