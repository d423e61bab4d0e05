"""`ordertrack user add|list|remove`: the console's accounts from a shell. The first admin
can only be made here; later ones also from /admin/users."""

import getpass
import sys

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from ordertrack import accounts
from ordertrack.accounts import AccountError
from ordertrack.settings import Settings
from ordertrack.store import users


def run(settings: Settings, args) -> int:
    engine = create_engine(settings.database_url)
    sessions = sessionmaker(engine)
    try:
        return ACTIONS[args.user_command](sessions, args)
    except AccountError as error:
        print(f"ordertrack user {args.user_command}: {error.message}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()


def _add(sessions, args) -> int:
    email = accounts.normal_email(args.email)
    accounts.checked_role(args.role)
    password_hash = accounts.hash_password(_read_password())
    with sessions.begin() as session:
        users.add(session, email, args.role, password_hash)
    print(f"added {email} ({args.role})")
    return 0


def _read_password() -> str:
    """One line of standard input when it is piped; asked twice on a terminal."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    accounts.check_password(first)
    if getpass.getpass("Password again: ") != first:
        raise AccountError("the two passwords differ")
    return first


def _list(sessions, args) -> int:
    with sessions() as session:
        rows = users.all_users(session)
    if not rows:
        print("no accounts yet: ordertrack user add you@shop.example --role admin")
    for user in rows:
        seen = (
            user.last_sign_in_at.isoformat(timespec="seconds") if user.last_sign_in_at else "never"
        )
        print(f"{user.email}\t{user.role}\tlast sign-in: {seen}")
    return 0


def _remove(sessions, args) -> int:
    with sessions.begin() as session:
        found = users.remove(session, args.email)
    if not found:
        print(f"ordertrack user remove: no account {args.email.strip().lower()}", file=sys.stderr)
        return 1
    print(f"removed {args.email.strip().lower()}")
    return 0


ACTIONS = {"add": _add, "list": _list, "remove": _remove}
