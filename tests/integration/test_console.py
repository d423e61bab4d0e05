"""The merchant console (issue 10) through Flask's test client, on both databases: sign-in,
its limits and cookie, CSRF, roles, and the actions (resend, replay) through the same use
cases as the API, with the real queue draining them."""

import io
import re

from sqlalchemy import select, update

from entry import cli
from ordertrack import accounts
from ordertrack.store import users
from ordertrack.store.models import Inbox, Outbox
from tests.support.webhooks import ORDER_ID, STORY, shopify

ADMIN = ("admin@shop.example", "admin password 1")
STAFF = ("staff@shop.example", "staff password 1")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _add(service, email: str, role: str, password: str) -> None:
    with service.runtime.sessions.begin() as session:
        users.add(session, email, role, accounts.hash_password(password))


def _token(client, path: str = "/admin/login") -> str:
    response = client.get(path)
    return CSRF.search(response.get_data(as_text=True)).group(1)


def _sign_in(client, email: str, password: str, **extra):
    token = _token(client)
    form = {"email": email, "password": password, "csrf_token": token}
    return client.post("/admin/login", data=form, **extra)


def _post(client, path: str, data: dict | None = None, page: str = "/admin/orders"):
    return client.post(path, data={**(data or {}), "csrf_token": _token(client, page)})


def _admin(service):
    _add(service, ADMIN[0], "admin", ADMIN[1])
    assert _sign_in(service.client, *ADMIN).status_code == 303
    return service.client


def _staff(service):
    _add(service, STAFF[0], "staff", STAFF[1])
    client = service.app.test_client()
    assert _sign_in(client, *STAFF).status_code == 303
    return client


def _inbox(service) -> list[Inbox]:
    with service.runtime.sessions() as session:
        return list(session.scalars(select(Inbox).order_by(Inbox.id)))


def test_signing_in_with_the_right_password_opens_the_orders(service):
    client = _admin(service)
    response = client.get("/admin/orders")
    assert response.status_code == 200
    assert "Sign out" in response.get_data(as_text=True)


def test_a_wrong_password_and_an_unknown_account_read_the_same(service):
    _add(service, ADMIN[0], "admin", ADMIN[1])
    wrong = _sign_in(service.client, ADMIN[0], "not the password!")
    unknown = _sign_in(service.client, "nobody@shop.example", "not the password!")
    assert wrong.status_code == unknown.status_code == 401
    for response in (wrong, unknown):
        assert "Wrong email or password." in response.get_data(as_text=True)
    assert service.client.get("/admin/orders").status_code == 303, "still signed out"


def test_sign_in_attempts_are_limited_per_account(service):
    _add(service, ADMIN[0], "admin", ADMIN[1])
    for _ in range(5):
        assert _sign_in(service.client, ADMIN[0], "guess guess guess").status_code == 401
    limited = _sign_in(service.client, ADMIN[0].upper(), ADMIN[1])
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert "Too many sign-in attempts" in limited.get_data(as_text=True)


def test_sign_in_attempts_are_limited_per_client(service):
    for n in range(20):
        assert _sign_in(service.client, f"guess{n}@shop.example", "x" * 12).status_code == 401
    assert _sign_in(service.client, "another@shop.example", "x" * 12).status_code == 429


def test_the_session_cookie_is_signed_http_only_same_site_and_kept_to_admin(service):
    _add(service, ADMIN[0], "admin", ADMIN[1])
    response = _sign_in(service.client, *ADMIN)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if "ordertrack_console" in c)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie, "PUBLIC_BASE_URL is http here"
    assert ADMIN[0] not in cookie and ADMIN[1] not in cookie


def test_over_https_the_session_cookie_is_secure(start):
    running = start(PUBLIC_BASE_URL="https://shop.test")
    _add(running, ADMIN[0], "admin", ADMIN[1])
    response = _sign_in(running.client, *ADMIN)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if "ordertrack_console" in c)
    assert "; Secure" in cookie


def test_without_signing_secret_the_console_refuses_and_says_why(start):
    running = start(SIGNING_SECRET=None, SMTP_HOST=None)
    response = running.client.get("/admin/login")
    assert response.status_code == 503
    assert "SIGNING_SECRET" in response.get_data(as_text=True)


def test_a_post_without_the_csrf_token_is_refused_with_400(service):
    _add(service, ADMIN[0], "admin", ADMIN[1])
    service.client.get("/admin/login")
    missing = service.client.post("/admin/login", data={"email": ADMIN[0], "password": ADMIN[1]})
    assert missing.status_code == 400
    assert "csrf_token" in missing.get_data(as_text=True)
    client = service.client
    assert _sign_in(client, *ADMIN).status_code == 303
    assert client.post("/admin/logout", data={"csrf_token": "forged"}).status_code == 400
    assert client.get("/admin/orders").status_code == 200, "still signed in"


def test_signing_out_ends_the_session(service):
    client = _admin(service)
    assert _post(client, "/admin/logout").status_code == 303
    assert client.get("/admin/orders").status_code == 303


def test_staff_are_refused_user_management_and_replay(service):
    _post_story(service, shopify("orders_create"))
    (row,) = _inbox(service)
    client = _staff(service)
    assert client.get("/admin/users").status_code == 403
    assert (
        _post(client, "/admin/users", {"email": "x@shop.example", "role": "admin"}).status_code
        == 403
    )
    assert _post(client, f"/admin/inbox/{row.id}/replay").status_code == 403
    assert client.get("/admin/replay?status=failed").status_code == 403
    replay_order = f"/admin/orders/shopify/{ORDER_ID}/replay"
    assert _post(client, replay_order).status_code == 403
    assert client.get("/admin/orders").status_code == 200
    assert client.get("/admin/inbox").status_code == 200


def test_staff_see_the_payload_masked_and_admins_whole(service):
    _post_story(service, shopify("orders_create"))
    (row,) = _inbox(service)
    staff = _staff(service).get(f"/admin/inbox/{row.id}").get_data(as_text=True)
    admin = _admin(service).get(f"/admin/inbox/{row.id}").get_data(as_text=True)
    assert "ada@example.com" in admin
    assert "ada@example.com" not in staff and "a***@example.com" in staff


def _post_story(service, *requests) -> None:
    for request in requests:
        assert service.post(request).status_code == 202, request.name
    service.drain()


def test_a_failed_webhook_replayed_from_the_console_is_processed(service):
    _post_story(service, shopify("orders_create"))
    (row,) = _inbox(service)
    with service.runtime.sessions.begin() as session:
        session.execute(
            update(Inbox)
            .where(Inbox.id == row.id)
            .values(status="failed", attempts=3, last_error="OperationalError", processed_at=None)
        )
    client = _admin(service)
    inbox = client.get("/admin/inbox").get_data(as_text=True)
    assert "OperationalError" in inbox and "Dead letters" in inbox
    dry = client.get("/admin/replay?status=failed&source=shopify")
    assert dry.status_code == 200 and 'data-count="1"' in dry.get_data(as_text=True)
    assert _inbox(service)[0].status == "failed", "counting changes nothing"
    assert _post(client, f"/admin/inbox/{row.id}/replay").status_code == 303
    service.drain()
    (row,) = _inbox(service)
    assert (row.status, row.last_error) == ("processed", None)


def test_a_filtered_replay_replays_what_the_dry_run_counted(service):
    _post_story(service, shopify("orders_create"), shopify("orders_paid"))
    with service.runtime.sessions.begin() as session:
        session.execute(update(Inbox).values(status="failed", attempts=3, last_error="boom"))
    client = _admin(service)
    response = _post(client, "/admin/replay", {"status": "failed", "source": "shopify"})
    assert response.status_code == 303
    service.drain()
    assert {row.status for row in _inbox(service)} == {"processed"}


def test_a_failed_message_resent_from_the_order_page_goes_out(service, smtp):
    _post_story(service, *STORY[:3])
    with service.runtime.sessions.begin() as session:
        outbox_id = session.scalars(select(Outbox.id).order_by(Outbox.id)).first()
        session.execute(
            update(Outbox).where(Outbox.id == outbox_id).values(status="failed", last_error="550")
        )
    sent_before = len(smtp.messages)
    client = _staff(service)
    page = f"/admin/orders/shopify/{ORDER_ID}"
    assert "Resend" in client.get(page).get_data(as_text=True)
    response = _post(client, f"/admin/notifications/{outbox_id}/resend", {"back": page}, page)
    assert response.status_code == 303 and response.headers["Location"].endswith(page)
    service.drain()
    with service.runtime.sessions() as session:
        assert session.get(Outbox, outbox_id).status in ("sent", "delivered")
    assert len(smtp.messages) == sent_before + 1


def test_the_order_page_shows_parcels_timeline_and_source_webhooks(service):
    _post_story(service, *STORY)
    client = _staff(service)
    listing = client.get("/admin/orders?q=9400111899223344556677").get_data(as_text=True)
    assert f"/admin/orders/shopify/{ORDER_ID}" in listing
    page = client.get(f"/admin/orders/shopify/{ORDER_ID}").get_data(as_text=True)
    assert "9400111899223344556677" in page and "1Z999AA10123456784" in page
    assert "delivery id" in page and "Payload of webhook" in page
    assert "Replay this order" not in page, "staff do not replay"


def test_the_order_list_pages_with_a_next_link(service):
    _post_story(service, *STORY[:2])
    client = _staff(service)
    first = client.get("/admin/orders?limit=1").get_data(as_text=True)
    assert "Next page" not in first, "one order: one page"
    assert client.get("/admin/orders?cursor=forged").status_code == 400


def test_admins_add_and_remove_users_and_a_removed_user_is_signed_out(service):
    admin = _admin(service)
    staff = _staff(service)
    added = _post(
        admin,
        "/admin/users",
        {"email": "New@Shop.Example", "role": "staff", "password": "a new password"},
    )
    assert added.status_code == 303
    short = _post(
        admin, "/admin/users", {"email": "x@shop.example", "role": "staff", "password": "short"}
    )
    assert short.status_code == 400 and "at least 12" in short.get_data(as_text=True)
    with service.runtime.sessions() as session:
        staff_id = users.find(session, STAFF[0]).id
        assert users.find(session, "new@shop.example") is not None
    assert _post(admin, f"/admin/users/{staff_id}/remove", page="/admin/users").status_code == 303
    assert staff.get("/admin/orders").status_code == 303, "signed out at once"


def test_the_users_cli_adds_lists_and_removes_with_the_password_on_stdin(
    service, monkeypatch, capsys
):
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert cli.main(["user", "add", "Owner@Shop.Example", "--role", "admin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("too short\n"))
    assert cli.main(["user", "add", "other@shop.example", "--role", "staff"]) == 2
    assert "at least 12" in capsys.readouterr().err
    assert cli.main(["user", "list"]) == 0
    listing = capsys.readouterr().out
    assert "owner@shop.example\tadmin" in listing and "other@" not in listing
    assert (
        _sign_in(service.client, "owner@shop.example", "a long enough password").status_code == 303
    )
    assert cli.main(["user", "remove", "owner@shop.example"]) == 0
    assert cli.main(["user", "remove", "owner@shop.example"]) == 1
