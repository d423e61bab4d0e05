"""The console's account rules: what an email and a password must be, and how a password is
kept (argon2id, the memory-hard scheme argon2-cffi defaults to). No SQL here: the rows live in
ordertrack/store/users.py."""

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ordertrack.errors import OrdertrackError
from ordertrack.store.user_models import Role

#: Shorter passwords fall to an offline guess too fast, whatever the hash.
MIN_PASSWORD_LENGTH = 12
#: argon2 hashes whatever it is given; a megabyte password would only cost us CPU.
MAX_PASSWORD_LENGTH = 1024
MAX_EMAIL_LENGTH = 320


class AccountError(OrdertrackError):
    """An email, password or role the console refuses."""

    status_code = 400


@cache
def hasher() -> PasswordHasher:
    """argon2-cffi's current defaults (argon2id); raising them later makes old hashes
    `needs_rehash`, and a sign-in upgrades them."""
    return PasswordHasher()


def normal_email(email: str) -> str:
    """Lower-cased and trimmed: one account per address, however it is typed."""
    address = email.strip().lower()
    local, at, domain = address.partition("@")
    if not (local and at and "." in domain) or len(address) > MAX_EMAIL_LENGTH:
        raise AccountError("that is not an email address")
    if any(c.isspace() or c == "\x00" for c in address):
        raise AccountError("an email address has no spaces")
    return address


def checked_role(role: str) -> str:
    if role not in Role.ALL:
        raise AccountError(f"role must be one of {', '.join(Role.ALL)}")
    return role


def check_password(password: str) -> str:
    """The password as given, if it is long enough to keep; AccountError otherwise."""
    if not password or not password.strip():
        raise AccountError("the password is empty")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    return hasher().hash(check_password(password))


def password_matches(password_hash: str | None, password: str) -> bool:
    """True when `password` is the one hashed. With no account (None) a dummy hash is still
    verified, so a wrong address takes as long as a wrong password."""
    try:
        return hasher().verify(password_hash or _dummy_hash(), password[:MAX_PASSWORD_LENGTH])
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return hasher().check_needs_rehash(password_hash)


@cache
def _dummy_hash() -> str:
    return hasher().hash("no account has this password, it only spends the time")
