"""Signing in and out, and the guard every console request passes.

Sign-in attempts are limited per client and per account, so neither one address nor one
account can be guessed at quickly. A miss never says whether the account exists, and an
unknown address costs the same argon2 work as a wrong password."""

import logging
from urllib.parse import urlsplit

from flask import current_app, flash, g, redirect, request, session, url_for

from ordertrack import accounts
from ordertrack.errors import NulCharacter, NulInPath
from ordertrack.store import users
from service.console import bp
from service.console.web import (
    USER,
    configure_sessions,
    csrf_ok,
    csrf_token,
    edge,
    refuse,
    render,
)
from service.rate_limit import client_key, redis_client, windows

log = logging.getLogger(__name__)

#: Sign-in attempts per account, and per client (IPv4 address, IPv6 /64), in any WINDOW seconds;
#: counted in Redis when REDIS_URL is set, so every web process counts together.
ACCOUNT_LIMIT = 5
CLIENT_LIMIT = 20
WINDOW = 15 * 60
_LIMITERS = "ordertrack.console_limiters"
PUBLIC = {"console.login_form", "console.login"}
WRONG = "Wrong email or password."


@bp.record_once
def _setup(state) -> None:
    app = state.app
    settings = app.extensions["ordertrack"].settings
    client = redis_client(settings.redis_url) if settings.redis_url else None
    app.extensions[_LIMITERS] = (
        windows(client, "console:client", CLIENT_LIMIT, WINDOW),
        windows(client, "console:account", ACCOUNT_LIMIT, WINDOW),
    )
    configure_sessions(app, settings)
    app.jinja_env.globals["csrf_token"] = csrf_token
    if not settings.signing_secret:
        log.warning("the merchant console at /admin is off: set SIGNING_SECRET to use it")


@bp.errorhandler(NulCharacter)
def _nul(exc: NulCharacter):
    """service.nul_guard refused it, before this blueprint's own guard: said in a page."""
    if isinstance(exc, NulInPath):
        return refuse(404, "Not found", "There is no such page.")
    return refuse(400, "Not a valid request", f"The {exc.message}.")


@bp.before_request
def _guard():
    if not edge().settings.signing_secret:
        return refuse(
            503,
            "The console is off",
            "The console signs its session cookie with SIGNING_SECRET, which is not set. "
            "Set SIGNING_SECRET on the server and restart it.",
        )
    if request.method == "POST" and not csrf_ok(request.form.get("csrf_token")):
        return refuse(
            400,
            "The form has expired",
            "The form's security token (csrf_token) is missing or wrong. "
            "Go back, reload the page and try again.",
        )
    g.user = _signed_in()
    if g.user is None and request.endpoint not in PUBLIC:
        if USER in session:
            session.clear()
        return redirect(url_for("console.login_form", next=request.full_path), code=303)
    return None


def _signed_in():
    user_id = session.get(USER)
    if not isinstance(user_id, int):
        return None
    with edge().sessions() as db:
        user = users.get(db, user_id)
        if user is not None:
            db.expunge(user)
        return user


@bp.get("/")
def home():
    return redirect(url_for("console.orders"))


@bp.get("/login")
def login_form():
    if g.user is not None:
        return redirect(url_for("console.orders"))
    return render("console/login.html", next=_safe_next(request.args.get("next")))


@bp.post("/login")
def login():
    email = request.form.get("email", "")[: accounts.MAX_EMAIL_LENGTH]
    password = request.form.get("password", "")[: accounts.MAX_PASSWORD_LENGTH]
    next_page = _safe_next(request.form.get("next"))
    wait = _rate_limited(email)
    if wait is not None:
        response = render(
            "console/login.html",
            status=429,
            error="Too many sign-in attempts. Wait a few minutes and try again.",
            email=email,
            next=next_page,
        )
        response.headers["Retry-After"] = str(max(1, round(wait)))
        return response
    user_id = _check(email, password)
    if user_id is None:
        return render("console/login.html", status=401, error=WRONG, email=email, next=next_page)
    session.clear()
    session.permanent = True
    session[USER] = user_id
    csrf_token()
    return redirect(next_page or url_for("console.orders"), code=303)


@bp.post("/logout")
def logout():
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("console.login_form"), code=303)


def _rate_limited(email: str) -> float | None:
    per_client, per_account = current_app.extensions[_LIMITERS]
    wait = per_client.attempt(client_key(request.remote_addr))
    if wait is None:
        wait = per_account.attempt(email.strip().lower())
    return wait


def _check(email: str, password: str) -> int | None:
    """The account's id when the password is right; the hash upgraded when it is old."""
    with edge().sessions() as db:
        user = users.find(db, email)
        stored = user.password_hash if user else None
    if not accounts.password_matches(stored, password) or user is None:
        return None
    new_hash = accounts.hasher().hash(password) if accounts.needs_rehash(stored) else None
    with edge().durable_sessions.begin() as db:
        found = users.get(db, user.id)
        if found is None:
            return None
        users.record_sign_in(db, found, new_hash)
    return user.id


def _safe_next(target: str | None) -> str | None:
    """Only a path inside the console: never a redirect to another site."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin/"):
        return None
    if target.startswith("//") or "\\" in target or parts.path.startswith("/admin/log"):
        return None
    return target
