"""The console's accounts in SQL: add, list, find, remove, and a sign-in's record."""

from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ordertrack.accounts import AccountError, checked_role, normal_email
from ordertrack.store.user_models import Role, User


def add(session: Session, email: str, role: str, password_hash: str) -> User:
    """A new account; AccountError when the address already has one."""
    user = User(
        email=normal_email(email),
        role=checked_role(role),
        password_hash=password_hash,
        created_at=datetime.now(UTC),
    )
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise AccountError(f"{user.email} already has an account") from None
    return user


def all_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.email)))


def find(session: Session, email: str) -> User | None:
    """The account for an address as typed (any case); None for none or a malformed one."""
    try:
        address = normal_email(email)
    except AccountError:
        return None
    return session.scalars(select(User).where(User.email == address)).one_or_none()


def get(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def remove(session: Session, email: str) -> bool:
    """True when there was such an account."""
    address = normal_email(email)
    return bool(session.execute(delete(User).where(User.email == address)).rowcount)


def admin_count(session: Session) -> int:
    return session.scalar(select(func.count()).where(User.role == Role.ADMIN)) or 0


def record_sign_in(session: Session, user: User, new_hash: str | None = None) -> None:
    """When they last signed in, and the password's hash upgraded when the scheme moved on."""
    user.last_sign_in_at = datetime.now(UTC)
    if new_hash:
        user.password_hash = new_hash
