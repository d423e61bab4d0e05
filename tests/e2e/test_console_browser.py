"""The merchant console in a real browser (Debian's Chromium through Playwright) against
`ordertrack serve --dev`: accounts made with the CLI, webhooks posted over HTTP as the
platforms send them, the console read as a merchant sees it."""

import subprocess
import sys
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from ordertrack import estimate_rollup, lanes
from ordertrack.store.models import Inbox
from tests.support import lane_story, report_story
from tests.support.browser import DESKTOP, SCREENSHOTS, Served
from tests.support.webhooks import ORDER_ID, STORY

ADMIN = ("owner@shop.example", "owner password 1")
STAFF = ("helper@shop.example", "helper password 1")
USPS = "9400111899223344556677"


def add_user(served: Served, email: str, role: str, password: str) -> None:
    """`ordertrack user add`, the password on standard input, as the README says."""
    done = subprocess.run(
        [sys.executable, "-m", "entry.cli", "user", "add", email, "--role", role],
        input=password + "\n",
        env=served.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def sign_in(page: Page, served: Served, email: str, password: str) -> None:
    page.goto(served.url + "/admin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Orders", level=1)).to_be_visible()


def fail_first_webhook(served: Served) -> int:
    """The first webhook left as a worker leaves one whose every attempt failed."""
    engine = create_engine(served.database_url)
    try:
        with engine.begin() as connection:
            inbox_id = connection.execute(select(Inbox.id).order_by(Inbox.id)).scalars().first()
            connection.execute(
                update(Inbox)
                .where(Inbox.id == inbox_id)
                .values(status="failed", attempts=8, last_error="OperationalError: database locked")
            )
        return inbox_id
    finally:
        engine.dispose()


def test_a_merchant_finds_an_order_by_tracking_number_and_reads_its_timeline(served, page):
    served.post_all(STORY)
    served.wait_for_order(ORDER_ID, "delivered")
    add_user(served, ADMIN[0], "admin", ADMIN[1])
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    page.set_viewport_size(DESKTOP)
    sign_in(page, served, *ADMIN)

    page.get_by_label("Search").fill(USPS)
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name="#1042")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "console-orders.png"), full_page=True)

    page.get_by_role("link", name="#1042").click()
    expect(page.get_by_role("heading", name="Order #1042")).to_be_visible()
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("delivered")
    expect(timeline).to_contain_text("delivery id")
    expect(page.locator("body")).to_contain_text(USPS)
    page.screenshot(path=str(SCREENSHOTS / "console-order.png"), full_page=True)

    timeline.get_by_role("link", name="Payload of webhook").first.click()
    expect(page.get_by_role("heading", name="Payload")).to_be_visible()
    expect(page.get_by_label("Payload JSON")).to_contain_text('"tracking_code"')
    origin = urlsplit(served.url).netloc
    assert all(urlsplit(url).netloc in (origin, "") for url in seen), "third-party requests"


def test_an_admin_replays_a_failed_webhook_and_sees_it_processed(served, page):
    served.post_all(STORY[:1])
    served.wait_for_order(ORDER_ID, "received")
    inbox_id = fail_first_webhook(served)
    add_user(served, ADMIN[0], "admin", ADMIN[1])
    sign_in(page, served, *ADMIN)

    page.get_by_role("link", name="Inbox").click()
    expect(page.locator("body")).to_contain_text("database locked")
    page.get_by_role("button", name=f"Replay #{inbox_id}").first.click()
    expect(page.get_by_role("status").first).to_contain_text(f"Webhook {inbox_id} is replaying")
    status = page.locator("[data-status]")
    deadline = time.monotonic() + 20
    while status.get_attribute("data-status") != "processed":
        assert time.monotonic() < deadline, "the replayed webhook was not processed"
        page.wait_for_timeout(300)
        page.reload()
    expect(page.locator("body")).not_to_contain_text("database locked")


def test_staff_are_refused_the_users_page_and_sign_out(served, page):
    add_user(served, STAFF[0], "staff", STAFF[1])
    sign_in(page, served, *STAFF)
    expect(page.get_by_role("link", name="Users")).to_have_count(0)
    response = page.goto(served.url + "/admin/users")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Admins only")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(served.url + "/admin/orders")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_a_wrong_password_is_refused_without_saying_which_half(served, page):
    add_user(served, ADMIN[0], "admin", ADMIN[1])
    page.goto(served.url + "/admin/login")
    page.get_by_label("Email").fill(ADMIN[0])
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    cookies = page.context.cookies()
    console = [c for c in cookies if c["name"] == "ordertrack_console"]
    assert console and console[0]["httpOnly"] and console[0]["sameSite"] == "Lax"


def test_staff_open_needs_attention_and_follow_a_late_parcel_to_its_order(served, page):
    served.post_all([*STORY[:3], STORY[5]])  # order, paid, parcel, in transit since 3 Nov
    served.wait_for_order(ORDER_ID, "in_transit")
    done = subprocess.run(
        [sys.executable, "-m", "entry.cli", "delays", "--once"],
        env=served.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "2 flagged" in done.stdout, done.stdout + done.stderr
    add_user(served, STAFF[0], "staff", STAFF[1])
    page.set_viewport_size(DESKTOP)
    sign_in(page, served, *STAFF)

    page.get_by_role("link", name="Needs attention").click()
    expect(page.get_by_role("heading", name="Needs attention", level=1)).to_be_visible()
    rows = page.locator("tr[data-flag]")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Past its estimated delivery")
    expect(rows.first).to_contain_text(USPS)
    page.screenshot(path=str(SCREENSHOTS / "console-attention.png"), full_page=True)

    rows.first.get_by_role("link", name="#1042").click()
    expect(page.get_by_role("heading", name="Order #1042")).to_be_visible()
    expect(page.locator("#delays tr[data-flag]")).to_have_count(2)


def test_staff_read_the_performance_page_charts_beside_their_tables(served, page):
    """The report story (tests/support/report_story.py) as the page draws it."""
    engine = create_engine(served.database_url)
    with Session(engine) as session, session.begin():
        report_story.seed(session)
        lane_story.seed(session, lane_story.NOVEMBER)
    # What the sweeper does with the delay check: judge the deliveries for the estimates.
    estimate_rollup.run_until_caught_up(sessionmaker(engine), lanes.Learning(), datetime.now(UTC))
    engine.dispose()
    add_user(served, STAFF[0], "staff", STAFF[1])
    page.set_viewport_size(DESKTOP)
    sign_in(page, served, *STAFF)

    page.get_by_role("link", name="Performance").click()
    expect(page.get_by_role("heading", name="Performance", level=1)).to_be_visible()
    page.get_by_label("From").fill("2026-11-02")
    page.get_by_label("To (inclusive)").fill("2026-11-29")
    page.get_by_role("button", name="Show").click()
    expect(page.locator('tr[data-status="delivered"]')).to_contain_text("2")
    expect(page.get_by_role("img", name="Median hours per stage")).to_be_visible()
    expect(page.locator("[data-bottleneck]")).to_have_text("First scan to delivered (transit)")
    # UPS in November (tests/support/lane_story.py): J1 came by its learned p90 date, J2 not.
    expect(page.get_by_role("img", name="Share delivered by the learned p90 date")).to_be_visible()
    expect(page.locator('tr[data-accuracy="ups"]')).to_contain_text("50%")
    expect(page.locator('tr[data-lane="ups-US-NY"]')).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "console-performance.png"), full_page=True)
