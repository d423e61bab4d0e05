"""/admin/users: admins list, add and remove console accounts (the CLI does the same)."""

from flask import flash, g, redirect, request, url_for

from ordertrack import accounts
from ordertrack.accounts import AccountError
from ordertrack.store import users
from ordertrack.store.user_models import Role
from service.console import bp
from service.console.web import admin_only, edge, render


@bp.get("/users")
@admin_only
def user_list():
    return _page()


def _page(status: int = 200, error: str | None = None, form: dict | None = None):
    with edge().sessions() as session:
        rows = users.all_users(session)
    return render(
        "console/users.html", status=status, rows=rows, roles=Role.ALL, error=error, form=form or {}
    )


@bp.post("/users")
@admin_only
def user_add():
    form = {"email": request.form.get("email", ""), "role": request.form.get("role", "")}
    try:
        email = accounts.normal_email(form["email"])
        role = accounts.checked_role(form["role"])
        password_hash = accounts.hash_password(request.form.get("password", ""))
        with edge().durable_sessions.begin() as session:
            users.add(session, email, role, password_hash)
    except AccountError as error:
        return _page(400, error.message, form)
    flash(f"Added {email} ({role}).")
    return redirect(url_for("console.user_list"), 303)


@bp.post("/users/<int:user_id>/remove")
@admin_only
def user_remove(user_id: int):
    if user_id == g.user.id:
        flash("You cannot remove your own account here: another admin, or the CLI, can.")
        return redirect(url_for("console.user_list"), 303)
    with edge().durable_sessions.begin() as session:
        found = users.get(session, user_id)
        if found is not None:
            users.remove(session, found.email)
    flash("Account removed: it is signed out at once." if found else "No such account.")
    return redirect(url_for("console.user_list"), 303)
