"""The merchant console's accounts. A module of its own beside models.py, which imports it
at its end so that Alembic's metadata holds this table too."""

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ordertrack.store.models import Base, Id


class Role:
    #: Reads everything, handles returns and resends messages.
    STAFF = "staff"
    #: Also manages users and replays webhooks.
    ADMIN = "admin"
    ALL = (STAFF, ADMIN)


class User(Base):
    """Someone who signs in to /admin: an email (lower-cased), a role, an argon2id hash."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("email", name="uq_users_email"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    last_sign_in_at: Mapped[datetime | None]
