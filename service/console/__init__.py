"""The merchant console at /admin: server-rendered pages (no JavaScript needed, no third-party
scripts or fonts) over the same use cases as the API. Views only translate: SQL lives in
ordertrack/store/, rules in ordertrack/.

Every request passes `_guard`: the console needs SIGNING_SECRET (its session cookie is signed
with a key derived from it), every POST carries the session's CSRF token, and every page but
the sign-in needs a signed-in account that still exists."""

from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/admin")

# The views, each module registering its own on `bp`.
from service.console import (  # noqa: E402, F401
    attention,
    auth,
    inbox,
    orders,
    people,
    performance,
    returns,
)
