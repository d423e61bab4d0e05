"""The email channel against a real SMTP server (aiosmtpd): what the message says, and how
transient (4xx) replies end when they never clear, on SQLite and PostgreSQL. A 4xx that
clears, and a 5xx, are matrix rows SMTP-1 and SMTP-3 (tests/faults/test_smtp_faults.py)."""

import html

import pytest

from tests.support.harness import start_service
from tests.support.processes import wait_for
from tests.support.webhooks import ORDER_ID, shopify

CUSTOMER = "ada@example.com"
CARRIER = "USPS"
TRACKING_NUMBER = "9400111899223344556677"
TRACKING_LINK = f"https://tools.usps.com/go/TrackConfirmAction?tLabels={TRACKING_NUMBER}"
#: The order is created, then its first parcel ships: exactly one "shipped" notification.
SHIPPED = [shopify("orders_create"), shopify("fulfillments_create")]


def _ship(service) -> dict:
    """Ship the order; its one notification once it has reached a final status."""
    for request in SHIPPED:
        response = service.post(request)
        assert response.status_code == 202, response.json
    service.drain()

    def finished() -> dict | None:
        # drain() can return while a retry is between Dramatiq's delay queue and the worker.
        notifications = service.order(ORDER_ID)["notifications"]
        if notifications and notifications[0]["status"] not in ("pending", "sending"):
            return notifications[0]
        return None

    notification = wait_for(finished, timeout=20, what="the notification to finish")
    assert len(service.order(ORDER_ID)["notifications"]) == 1
    assert (notification["kind"], notification["channel"]) == ("shipped", "email")
    return notification


def _part(message, content_type: str) -> str:
    [part] = [p for p in message.walk() if p.get_content_type() == content_type]
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


def test_shipped_email_names_carrier_tracking_number_and_link_in_text_and_html(service, smtp):
    notification = _ship(service)

    assert notification["status"] == "sent"
    [message] = smtp.to(CUSTOMER)
    assert "#1042" in message["Subject"]
    assert "shipped" in message["Subject"]
    assert message["From"] == "orders@shop.test"
    assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith("@shop.test>")
    plain, rich = _part(message, "text/plain"), _part(message, "text/html")
    for content in (plain, html.unescape(rich)):
        assert CARRIER in content
        assert TRACKING_NUMBER in content
        assert TRACKING_LINK in content
    assert f'href="{html.escape(TRACKING_LINK)}"' in rich


def test_a_4xx_that_never_clears_fails_after_max_attempts_with_the_reason_recorded(
    service, smtp, base_env
):
    max_attempts = int(base_env["MAX_ATTEMPTS"])
    smtp.scripted[CUSTOMER] = ["451 4.3.0 Try again later"] * (max_attempts + 5)

    notification = _ship(service)

    assert notification["status"] == "failed"
    assert notification["attempts"] == max_attempts
    assert "451" in notification["reason"]
    assert f"after {max_attempts} attempts" in notification["reason"]
    assert smtp.attempts[CUSTOMER] == max_attempts
    assert smtp.to(CUSTOMER) == []


def test_the_api_masks_the_recipient_of_every_notification(service, smtp):
    notification = _ship(service)

    assert notification["recipient"] == "a***@example.com"
    response = service.api(f"/api/v1/orders/shopify/{ORDER_ID}")
    assert CUSTOMER not in response.get_data(as_text=True)


@pytest.fixture
def service_without_smtp(database_url, base_env, monkeypatch):
    """The whole service with no SMTP_HOST (base_env clears every SMTP_* variable)."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    running = start_service()
    yield running
    running.stop()


def test_without_smtp_host_the_notification_is_recorded_skipped_with_the_reason(
    service_without_smtp,
):
    notification = _ship(service_without_smtp)

    assert notification["status"] == "skipped"
    assert "SMTP_HOST" in notification["reason"]
    assert notification["sent_at"] is None
