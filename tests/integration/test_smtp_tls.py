"""TLS to the SMTP server is verified (issue 13, defect 3), against a real SMTP server
(aiosmtpd) holding a certificate made for the test by a throwaway CA (trustme): one that does
not verify gets neither the message nor SMTP_PASSWORD, unless its CA is trusted
(SMTP_CA_FILE) or verification is switched off (SMTP_TLS_VERIFY=false). TLS does not depend on
the store, so these run on SQLite only."""

import ssl

import pytest
import trustme

from ordertrack.store.migrate import upgrade
from tests.support.harness import start_service
from tests.support.processes import wait_for
from tests.support.smtp import start_smtp
from tests.support.webhooks import ORDER_ID, shopify

CUSTOMER = "ada@example.com"
LOGIN, PASSWORD = "shop-login", "s3cret-smtp-password"


@pytest.fixture
def database_url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'ordertrack.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca, tmp_path) -> str:
    path = tmp_path / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


@pytest.fixture
def run(database_url, base_env, monkeypatch):
    """run(server, **env): the whole service pointed at `server` (controller, recorder), with
    an SMTP login; ships the order and returns its one notification once it has finished."""
    running = []

    def _run(server, **env: str) -> dict:
        controller, _ = server
        settings = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(controller.port)}
        settings |= {"SMTP_FROM": "orders@shop.test", "DATABASE_URL": database_url}
        settings |= {"SMTP_USERNAME": LOGIN, "SMTP_PASSWORD": PASSWORD, **env}
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        running.append(start_service())
        return _ship(running[-1])

    yield _run
    for service in running:
        service.stop()


def _ship(service) -> dict:
    for name in ("orders_create", "fulfillments_create"):
        response = service.post(shopify(name))
        assert response.status_code == 202, response.json
    service.drain()

    def finished() -> dict | None:
        notifications = service.order(ORDER_ID)["notifications"]
        if notifications and notifications[0]["status"] not in ("pending", "sending"):
            return notifications[0]
        return None

    return wait_for(finished, timeout=20, what="the notification to finish")


@pytest.fixture
def stopping():
    """start_smtp(...) whose servers are stopped after the test."""
    controllers = []

    def _start(**options):
        controller, recorder = start_smtp(**options)
        controllers.append(controller)
        return controller, recorder

    yield _start
    for controller in controllers:
        controller.stop()


def _assert_refused(notification: dict, recorder, max_attempts: int) -> None:
    """Not sent, tried again (a certificate can be fixed, an impostor can go away) until the
    attempts ran out, and the reason says why; the server saw no message and no password."""
    assert notification["status"] == "failed"
    assert notification["attempts"] == max_attempts
    assert "certificate" in notification["reason"]
    assert recorder.messages == []
    assert recorder.logins == []


def test_starttls_to_a_certificate_that_does_not_verify_sends_neither_message_nor_password(
    run, stopping, ca, base_env
):
    server = stopping(starttls=_server_context(ca, "127.0.0.1"))

    notification = run(server, SMTP_STARTTLS="true")

    _assert_refused(notification, server[1], int(base_env["MAX_ATTEMPTS"]))


def test_starttls_to_a_server_whose_ca_is_in_smtp_ca_file_sends_and_logs_in_under_tls(
    run, stopping, ca, ca_file
):
    server = stopping(starttls=_server_context(ca, "127.0.0.1"))

    notification = run(server, SMTP_STARTTLS="true", SMTP_CA_FILE=ca_file)

    assert (notification["status"], notification["attempts"]) == ("sent", 1)
    assert len(server[1].to(CUSTOMER)) == 1
    assert server[1].logins == [(LOGIN, PASSWORD, True)]


def test_a_trusted_ca_does_not_vouch_for_a_certificate_naming_another_host(
    run, stopping, ca, ca_file, base_env
):
    server = stopping(starttls=_server_context(ca, "mail.elsewhere.test"))

    notification = run(server, SMTP_STARTTLS="true", SMTP_CA_FILE=ca_file)

    _assert_refused(notification, server[1], int(base_env["MAX_ATTEMPTS"]))


def test_with_verification_switched_off_starttls_still_encrypts_and_sends(run, stopping, ca):
    server = stopping(starttls=_server_context(ca, "127.0.0.1"))

    notification = run(server, SMTP_STARTTLS="true", SMTP_TLS_VERIFY="false")

    assert (notification["status"], notification["attempts"]) == ("sent", 1)
    assert len(server[1].to(CUSTOMER)) == 1
    assert server[1].logins == [(LOGIN, PASSWORD, True)]


def test_a_server_that_does_not_offer_starttls_gets_neither_message_nor_password(
    run, stopping, base_env
):
    server = stopping()

    notification = run(server, SMTP_STARTTLS="true")

    assert notification["status"] == "failed"
    assert "STARTTLS" in notification["reason"]
    assert server[1].messages == [] and server[1].logins == []


def test_implicit_tls_sends_to_a_server_whose_ca_is_trusted(run, stopping, ca, ca_file):
    server = stopping(implicit_tls=_server_context(ca, "127.0.0.1"))

    notification = run(server, SMTP_SSL="true", SMTP_CA_FILE=ca_file)

    assert (notification["status"], notification["attempts"]) == ("sent", 1)
    assert len(server[1].to(CUSTOMER)) == 1
    assert server[1].logins == [(LOGIN, PASSWORD, True)]


def test_implicit_tls_to_a_certificate_that_does_not_verify_sends_nothing(
    run, stopping, ca, base_env
):
    server = stopping(implicit_tls=_server_context(ca, "127.0.0.1"))

    notification = run(server, SMTP_SSL="true")

    _assert_refused(notification, server[1], int(base_env["MAX_ATTEMPTS"]))
