"""Fixtures for the browser tests: one headless Debian Chromium for the session, a fresh
browser context (cookies, storage) per test, and the real service per test on its own SQLite
file. A missing Chromium fails the tests with the command that installs it: never a skip."""

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.browser import PHONE, Served, chromium_missing, launch, serve

#: The customer's zone: the fixture order ships to New York (10001, NY).
CUSTOMER_TIMEZONE = "America/New_York"

#: The shop the page is branded for, and a believable return window: the page's tests tell
#: the story as if it ended two days ago, so the window is open for four weeks more.
SHOP_ENV = {
    "SHOP_NAME": "Babbage & Lovelace",
    "BRAND_COLOR": "#7a1f5c",
    "RETURN_WINDOW_DAYS": "30",
    "RETURN_POLICY_TEXT": "Send it back unused within the window; we refund the item price.",
    "TRACKING_LINK_DAYS": "60",
}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    missing = chromium_missing()
    if missing:
        pytest.fail(missing)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A phone-sized page in the customer's time zone and language, its own cookies."""
    context = browser.new_context(
        viewport=PHONE, timezone_id=CUSTOMER_TIMEZONE, locale="en-US", java_script_enabled=True
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def served(base_env, tmp_path) -> Iterator[Served]:
    """`ordertrack serve --dev` on a free port with the test's settings (base_env: every
    source's secret, API_TOKEN, SIGNING_SECRET), SQLite, the in-process queue."""
    with serve(tmp_path, {**os.environ, **SHOP_ENV}) as running:
        yield running
