"""The customer's tracking page in a real browser: Debian's Chromium, driven by Playwright,
against `ordertrack serve --dev` on a free port. Webhooks go in over HTTP exactly as the
platforms send them; the page is read as a customer sees it (text, roles, labels), the
merchant's side through the API with the bearer token."""

import os
import re
import struct
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from playwright.sync_api import Locator, Page, expect

from ordertrack.notifications.links import signing_keys, tracking_url
from ordertrack.settings import Settings
from service import tracking
from tests.e2e.conftest import CUSTOMER_TIMEZONE, SHOP_ENV
from tests.support.browser import DESKTOP, PHONE, SCREENSHOTS, Served, serve
from tests.support.webhooks import ORDER_ID, STORY, days_to_recent, easypost, moved

USPS = "9400111899223344556677"
UPS = "1Z999AA10123456784"
#: What the fixture order would give away: its number, the customer, an address, the items.
SECRETS_OF_THE_ORDER = ("1042", "Ada", "ada@example.com", "10001", "Analytical Engine", USPS, UPS)
#: The story up to both parcels in transit.
UNTIL_IN_TRANSIT = STORY[:7]
#: The whole story told as if it ended two days ago: the page (and the README's screenshots
#: of it) shows this week's dates and a return window open for four weeks more.
DAYS_MOVED = days_to_recent(STORY, ended_days_ago=2)
RECENT_STORY = moved(STORY, DAYS_MOVED)
#: When USPS delivered, in the fixture (tracker_updated__delivered.json), before the move.
USPS_DELIVERED = datetime(2026, 11, 4, 15, 12, tzinfo=UTC)
#: What a miss says, and no more (the page's words, or the issue's).
NOTHING_MATCHED = re.compile(r"(nothing|no order) matched", re.IGNORECASE)
OUT_FOR_DELIVERY = easypost("tracker_updated__out_for_delivery")


def deliver_the_story(served: Served) -> None:
    served.post_all(RECENT_STORY)
    served.wait_for_order(ORDER_ID, "delivered")


def record_requests(page: Page) -> list[str]:
    """Record every URL the page asks for: all of them must be the shop's own."""
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    return seen


def assert_only_own_origin(seen: list[str], served: Served) -> None:
    origin = urlsplit(served.url).netloc
    foreign = [url for url in seen if urlsplit(url).netloc not in (origin, "")]
    assert not foreign, f"third-party requests: {foreign}"


def assert_reveals_nothing(page: Page) -> None:
    text = page.locator("body").inner_text()
    for secret in SECRETS_OF_THE_ORDER:
        assert secret not in text, f"{secret!r} shown without a valid token"
    assert SECRETS_OF_THE_ORDER[0] not in page.title()


def choose(control: Locator, value: str) -> None:
    """Set a quantity, whether the page offers a list or a number field."""
    if control.evaluate("element => element.tagName") == "SELECT":
        control.select_option(value)
    else:
        control.fill(value)


def png_size(path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", header[16:24])


def test_a_signed_link_shows_the_status_shipments_and_timeline_in_the_customer_s_zone(served, page):
    deliver_the_story(served)
    seen = record_requests(page)

    response = page.goto(served.tracking_link(ORDER_ID))

    assert response is not None and response.status == 200
    assert page.locator("html").get_attribute("lang")
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    body = page.locator("body")
    expect(body).to_contain_text(SHOP_ENV["SHOP_NAME"])
    expect(body).to_contain_text("1042")
    expect(body).to_contain_text(re.compile(r"\bdelivered\b", re.IGNORECASE))
    # Both parcels, each with its carrier, its number and a link to the carrier's page.
    for carrier, number in (("USPS", USPS), ("UPS", UPS)):
        expect(body).to_contain_text(carrier)
        expect(body).to_contain_text(number)
        expect(page.locator(f'a[href*="{number}"]').first).to_be_visible()
    # The timeline, in New York time: USPS delivered at 15:12 UTC, 10:12 there in winter
    # (EST) and 11:12 in summer (EDT), whichever the moved story's day falls in.
    delivered = (USPS_DELIVERED + timedelta(days=DAYS_MOVED)).astimezone(
        ZoneInfo(CUSTOMER_TIMEZONE)
    )
    expect(body).to_contain_text(f"{delivered:%H:%M}")
    assert "15:12" not in body.inner_text()
    # The return window: 30 days from the last parcel's delivery, two days ago.
    closes = datetime.now(UTC).date() + timedelta(days=28)
    expect(body).to_contain_text(f"until {closes.day} {closes:%B %Y}")
    # Mobile-first: nothing wider than the phone's screen.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width}px)"
    assert_only_own_origin(seen, served)

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phone = SCREENSHOTS / "tracking-phone.png"
    page.screenshot(path=str(phone), full_page=True)
    page.set_viewport_size(DESKTOP)
    desktop = SCREENSHOTS / "tracking-desktop.png"
    page.screenshot(path=str(desktop), full_page=True)
    assert png_size(phone)[0] == PHONE["width"] and png_size(phone)[1] >= PHONE["height"]
    assert png_size(desktop)[0] == DESKTOP["width"]


def test_a_carrier_webhook_changes_the_open_page_without_a_reload_or_polling(served, page):
    served.post_all(UNTIL_IN_TRANSIT)
    served.wait_for_order(ORDER_ID, "in_transit")
    link = served.tracking_link(ORDER_ID)
    page.goto(link)
    body = page.locator("body")
    expect(body).to_contain_text(USPS)
    expect(body).not_to_contain_text(re.compile("out for delivery", re.IGNORECASE))
    page.evaluate("window.__marker = 'still the same page'")
    # Let the live connection open before the news arrives, then count what the page asks for.
    page.wait_for_timeout(1000)
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))

    response = served.post(OUT_FOR_DELIVERY)
    assert response.status_code == 202, response.text

    expect(body).to_contain_text(re.compile("out for delivery", re.IGNORECASE), timeout=15_000)
    assert page.evaluate("window.__marker") == "still the same page"
    assert navigations == [] and page.url == link
    # No polling storm: a quiet page asks for (almost) nothing while it waits.
    page.wait_for_timeout(3000)
    assert len(asked) <= 3, f"the page keeps asking: {asked}"


@pytest.fixture
def served_without_streams(base_env, tmp_path) -> Iterator[Served]:
    """The same service with SSE_MAX_STREAMS=0: every page is refused a live stream (503)."""
    with serve(tmp_path, {**os.environ, **SHOP_ENV, "SSE_MAX_STREAMS": "0"}) as running:
        yield running


def test_a_page_refused_a_live_stream_polls_and_still_shows_the_news(served_without_streams, page):
    served = served_without_streams
    served.post_all(UNTIL_IN_TRANSIT)
    served.wait_for_order(ORDER_ID, "in_transit")
    link = served.tracking_link(ORDER_ID)
    page.clock.install()  # the page's timers run when the test says
    with page.expect_response(lambda answer: answer.url.endswith("/events")) as refused:
        page.goto(link)
    assert refused.value.status == 503
    body = page.locator("body")
    expect(body).not_to_contain_text(re.compile("out for delivery", re.IGNORECASE))
    page.evaluate("window.__marker = 'still the same page'")
    page.wait_for_timeout(500)  # the EventSource's error reaches the script: it polls now

    assert served.post(OUT_FOR_DELIVERY).status_code == 202
    news = re.compile("out for delivery", re.IGNORECASE)
    for _ in range(20):  # each turn, the page's next look (the queue applies it meanwhile)
        page.clock.run_for(tracking.FALLBACK_POLL_SECONDS * 1000)
        page.wait_for_timeout(500)
        if news.search(body.inner_text()):
            break
    expect(body).to_contain_text(news)
    assert page.evaluate("window.__marker") == "still the same page"
    expect(page.get_by_role("status")).to_contain_text("Updated")


def test_a_return_requested_on_the_page_is_in_the_merchant_s_list(served, page):
    deliver_the_story(served)
    page.goto(served.tracking_link(ORDER_ID))
    body = page.locator("body")
    expect(body).to_contain_text(SHOP_ENV["RETURN_POLICY_TEXT"])

    choose(page.get_by_label(re.compile("Difference Engine Mug")), "1")
    page.get_by_label(re.compile("reason", re.IGNORECASE)).select_option(label="It arrived damaged")
    page.get_by_label(re.compile("comment", re.IGNORECASE)).fill("The handle came off.")
    page.get_by_role("button", name=re.compile("return", re.IGNORECASE)).click()

    expect(body).to_contain_text(re.compile("requested", re.IGNORECASE))
    listed = served.api("/api/v1/returns")
    assert listed.status_code == 200, listed.text
    payload = listed.json()
    returns = payload["returns"] if isinstance(payload, dict) else payload
    (made,) = returns
    assert made["status"] == "requested"
    assert made["reason"] == "damaged"
    assert made["comment"] == "The handle came off."
    assert made["order"]["external_id"] == ORDER_ID
    assert [(i["title"], i["quantity"]) for i in made["items"]] == [("Difference Engine Mug", 1)]
    # And the merchant's API refuses anyone without the token.
    anonymous = requests.get(f"{served.url}/api/v1/returns", timeout=10)
    assert anonymous.status_code == 401


def test_a_forged_tampered_or_expired_token_shows_nothing_about_the_order(served, page):
    deliver_the_story(served)
    genuine = served.tracking_link(ORDER_ID)
    row_id = served.order_row_id(ORDER_ID)
    token = genuine.rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    forged = tracking_url(served.url, signing_keys(Settings(signing_secret="guess")), row_id)

    class SixtyOneDaysAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 61 * 86400

    # Signed with the service's own keys, as links.py signs, 61 days ago (they last 60).
    keys = signing_keys(Settings(signing_secret=served.env["SIGNING_SECRET"]))
    signer = URLSafeTimedSerializer(list(reversed(keys)), salt="tracking", signer=SixtyOneDaysAgo)
    expired = signer.dumps(row_id)

    for bad in (f"{served.url}/t/{tampered}", forged, f"{served.url}/t/{expired}"):
        response = page.goto(bad)
        assert response is not None and response.status == 404, bad
        assert_reveals_nothing(page)
        events = requests.get(f"{bad}/events", timeout=5, stream=True)
        assert events.status_code == 404, bad
        events.close()
    # The genuine link does show the order: the tokens above failed for being bad.
    page.goto(genuine)
    expect(page.locator("body")).to_contain_text(USPS)


def test_the_lookup_form_with_a_wrong_email_says_only_that_nothing_matched(served, page):
    deliver_the_story(served)
    page.goto(f"{served.url}/track")

    page.get_by_label(re.compile("order", re.IGNORECASE)).fill("#1042")
    email = page.get_by_label(re.compile("email", re.IGNORECASE))
    email.fill("someone.else@example.com")
    email.press("Enter")

    body = page.locator("body")
    expect(page.get_by_role("alert")).to_contain_text(NOTHING_MATCHED)
    assert "/t/" not in page.url
    text = body.inner_text()
    for secret in SECRETS_OF_THE_ORDER[1:]:
        assert secret not in text, f"{secret!r} shown for a wrong email"

    # The right pair leads to the order's page.
    page.get_by_label(re.compile("order", re.IGNORECASE)).fill("#1042")
    email = page.get_by_label(re.compile("email", re.IGNORECASE))
    email.fill("ada@example.com")
    email.press("Enter")
    page.wait_for_url(re.compile(r"/t/[^/]+$"))
    expect(body).to_contain_text(USPS)
