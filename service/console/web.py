"""What every console view shares: the session's account, CSRF tokens, role checks, and one
way to render a page with the shop's colour and strict security headers."""

import hashlib
import hmac
import secrets
from functools import wraps

from flask import Response, current_app, g, render_template, session
from flask.sessions import SecureCookieSessionInterface

from ordertrack.store.user_models import Role
from ordertrack.tracking_page.page import brand_colors

#: Session keys: the account's id, and the per-session CSRF token.
USER = "uid"
CSRF = "csrf"
#: Hours a console session lasts without signing in again.
SESSION_HOURS = 12


def edge():
    return current_app.extensions["ordertrack"]


def session_keys(signing_secret: str | None) -> list[str]:
    """Keys for the session cookie, derived from SIGNING_SECRET (each of its comma-separated
    keys, newest first): a cookie and a tracking link are never signed with the same key."""
    raw = [part.strip() for part in (signing_secret or "").split(",") if part.strip()]
    return [
        hmac.new(key.encode(), b"ordertrack console session", hashlib.sha256).hexdigest()
        for key in raw
    ]


def configure_sessions(app, settings) -> None:
    """Flask's signed cookie session, kept to /admin: HttpOnly, SameSite=Lax, Secure when
    the service is served over https."""
    keys = session_keys(settings.signing_secret)
    if keys:
        app.secret_key = keys[0]
        app.config["SECRET_KEY_FALLBACKS"] = keys[1:]
    app.config.update(
        SESSION_COOKIE_NAME="ordertrack_console",
        SESSION_COOKIE_PATH="/admin",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=SESSION_HOURS * 3600,
    )
    app.session_interface = SecureCookieSessionInterface()


def csrf_token() -> str:
    """The session's token, made on first use; every form carries it."""
    if CSRF not in session:
        session[CSRF] = secrets.token_urlsafe(32)
    return session[CSRF]


def csrf_ok(presented: str | None) -> bool:
    expected = session.get(CSRF)
    if not expected or not presented:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


def is_admin() -> bool:
    return g.get("user") is not None and g.user.role == Role.ADMIN


def admin_only(view):
    """Admins only: a staff account is told so with a 403."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not is_admin():
            return refuse(403, "Admins only", "This page or action is for admin accounts.")
        return view(*args, **kwargs)

    return wrapped


def refuse(status: int, title: str, message: str) -> Response:
    return render("console/error.html", status=status, title=title, message=message)


def render(template: str, *, status: int = 200, **context) -> Response:
    settings = edge().settings
    background, text = brand_colors(settings.brand_color)
    body = render_template(
        template,
        shop_name=settings.shop_name,
        brand=background,
        brand_text=text,
        user=g.get("user"),
        is_admin=is_admin(),
        **context,
    )
    response = Response(body, status=status, mimetype="text/html")
    response.headers.update(SECURITY_HEADERS)
    return response


SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex, nofollow",
    # No scripts at all: the console works without them.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:;"
        " form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
}
