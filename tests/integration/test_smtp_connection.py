"""The SMTP connection through the worker path, against a real SMTP server (aiosmtpd): one
connection per worker thread, kept across messages (issue 12), that survives the server
hanging up between messages (found by NOOP after idling, or at MAIL); and a message the
server accepted (250 to DATA) counts as sent whatever QUIT then brings (issue 13, defect 7)."""

import json
from email.message import EmailMessage

import pytest

from ordertrack.notifications import email, smtp_connection
from ordertrack.notifications.email import SmtpConfig
from tests.support.harness import start_service
from tests.support.processes import wait_for
from tests.support.smtp import HANG_UP, start_smtp
from tests.support.webhooks import Request, fixture_body, shopify

CUSTOMER = "ada@example.com"


@pytest.fixture
def one_worker(database_url, base_env, smtp, monkeypatch):
    """The whole service with a single worker thread; `stop()` may be called in the test."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    running = start_service(worker_threads=1)
    stopped = []

    def stop() -> None:
        if not stopped:
            stopped.append(running.stop())

    yield running, stop
    stop()


def _order(number: int) -> list[Request]:
    """Order #<number> is placed and ships in one parcel: one "shipped" email."""
    order_id, fulfillment_id = 7_000_000 + number, 8_000_000 + number
    tracking = f"9400111899223300{number:06d}"

    def order(payload: dict) -> None:
        payload.update(id=order_id, name=f"#{number}", order_number=number)

    def fulfillment(payload: dict) -> None:
        payload.update(id=fulfillment_id, order_id=order_id, name=f"#{number}.1")
        payload.update(tracking_number=tracking, tracking_numbers=[tracking])
        url = f"https://tools.usps.com/go/TrackConfirmAction?tLabels={tracking}"
        payload.update(tracking_url=url, tracking_urls=[url])

    return [
        shopify("orders_create", _edited("orders_create", order), webhook_id=f"o-{number}"),
        shopify(
            "fulfillments_create",
            _edited("fulfillments_create", fulfillment),
            webhook_id=f"f-{number}",
        ),
    ]


def _edited(name: str, change) -> bytes:
    payload = json.loads(fixture_body("shopify", name))
    change(payload)
    return json.dumps(payload).encode()


def _ship(service, numbers) -> list[dict]:
    """Ship these orders; their notifications once every one has finished."""
    for number in numbers:
        for request in _order(number):
            response = service.post(request)
            assert response.status_code == 202, response.json
    service.drain()

    def finished() -> list[dict] | None:
        found = [service.order(str(7_000_000 + n))["notifications"] for n in numbers]
        if all(n and n[0]["status"] not in ("pending", "sending") for n in found):
            return [n for listed in found for n in listed]
        return None

    return wait_for(finished, timeout=20, what="the notifications to finish")


def _assert_each_sent_once(notifications: list[dict], smtp, count: int) -> None:
    assert len(notifications) == count
    assert [(n["kind"], n["status"], n["attempts"]) for n in notifications] == [
        ("shipped", "sent", 1)
    ] * count
    ids = [m["Message-ID"] for m in smtp.to(CUSTOMER)]
    assert len(ids) == count and len(set(ids)) == count, ids


def test_messages_from_one_worker_thread_share_one_smtp_connection(one_worker, smtp):
    service, _ = one_worker

    notifications = _ship(service, range(1, 6))

    _assert_each_sent_once(notifications, smtp, 5)
    assert len(smtp.connections) == 1


@pytest.mark.parametrize("last_words", [None, "421 4.4.2 Error: timeout exceeded"])
def test_a_server_hanging_up_between_messages_costs_a_reconnect_not_a_message(
    one_worker, smtp, last_words
):
    service, _ = one_worker
    first = _ship(service, range(1, 4))
    assert len(smtp.connections) == 1

    smtp.hang_up(last_words)
    later = _ship(service, range(4, 7))

    _assert_each_sent_once(first + later, smtp, 6)
    assert len(smtp.connections) == 2


@pytest.mark.parametrize(
    "quit_reply", ["421 4.3.2 Shutting down", "554 5.3.0 Something broke", HANG_UP]
)
def test_a_message_accepted_at_data_is_sent_once_whatever_quit_brings(one_worker, smtp, quit_reply):
    service, stop = one_worker
    smtp.quit_reply = quit_reply

    [notification] = _ship(service, [1])
    stop()  # the worker thread closes its connection: QUIT, answered with quit_reply

    assert (notification["status"], notification["attempts"]) == ("sent", 1)
    assert notification["reason"] is None
    assert len(smtp.to(CUSTOMER)) == 1
    assert smtp.quits == 1


@pytest.fixture
def mailbox():
    controller, recorder = start_smtp()
    yield controller, recorder
    smtp_connection.close()  # this thread's kept connection
    controller.stop()


def _message(number: int) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"] = "orders@shop.test", CUSTOMER
    message["Subject"], message["Message-ID"] = f"#{number}", f"<test.{number}@shop.test>"
    message.set_content(f"message {number}")
    return message


def test_a_connection_idle_past_the_check_is_tried_with_noop_and_replaced_when_gone(mailbox):
    controller, recorder = mailbox
    config = SmtpConfig("127.0.0.1", controller.port, "orders@shop.test", idle_check_seconds=0)

    email.send(config, _message(1))
    recorder.hang_up()
    email.send(config, _message(2))  # NOOP finds the connection gone: a new one
    email.send(config, _message(3))  # NOOP answered: the same one

    assert [m["Subject"] for m in recorder.messages] == ["#1", "#2", "#3"]
    assert len(recorder.connections) == 2
    assert recorder.noops == 1
