"""LOG-1 (docs/reliability.md, "Secrets in logs"; docs/faults.md): no process of the deployment
logs a secret or a customer's address or number. The deployment as it runs: `ordertrack serve`
(gunicorn), `ordertrack worker` and `ordertrack sweep` as subprocesses at LOG_LEVEL=DEBUG, on
PostgreSQL and a private Redis, sending email over STARTTLS with a login, texts through a
Twilio-shaped HTTP server and events to the merchant's endpoint. The story has every kind
of failure that gets logged: forged webhooks, wrong API tokens, an SMTP 451 then 250 and a 550,
a Twilio 500 after the text was made (reconciled) and a 21211, a merchant endpoint that
answers 500 first, a platform API that is down, a row only the sweeper can find, forged Twilio
status callbacks, a wrong console password. Then every byte those processes wrote is searched
for each secret and each piece of personal data, in the forms a log line could hold them."""

import base64
import hashlib
import hmac
import json
import os
import re
import ssl
import subprocess
from collections import Counter
from contextlib import suppress
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
import requests
import trustme
from sqlalchemy import select

from ordertrack.store.db import make_engine
from ordertrack.store.inbox import record
from ordertrack.store.models import Inbox, Outbox
from tests.support import other_customer as b
from tests.support.http_peers import CREATED_THEN_500, INVALID_TO, Endpoint, TwilioServer
from tests.support.processes import ORDERTRACK, Process, RedisServer, new_delivery, wait_for
from tests.support.smtp import free_port, start_smtp
from tests.support.sources import bigcommerce, shippo, ups
from tests.support.twilio import ACCOUNT, AUTH_TOKEN, FROM
from tests.support.webhooks import SECRETS, STORY, fixture_body, request_for, shopify

SMTP_LOGIN, SMTP_PASSWORD = "shop-mailer", "smtp-password-7Qx!v2"
MERCHANT_SECRET = "whsec_" + base64.b64encode(b"merchant-signing-key-0123456789").decode()
STAFF, STAFF_PASSWORD = "staff@shop.test", "console-password-9kWz!r"
A_EMAIL, A_PHONE = "ada@example.com", "+15555550142"
#: One fixture of each source not in the story, validly signed: each verifier and provider.
OTHERS = [
    ("aftership", "tracking_update__in_transit"),
    ("fedex", "tracking_event__in_transit"),
    ("shippo", "track_updated__transit"),
    ("ups", "track_alert__origin_scan"),
    ("woocommerce", "order_created"),
    ("bigcommerce", "order_created"),
]
_EMAIL = re.compile(rb"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(rb"\+\d{10,15}")


@pytest.fixture
def smtp_tls(tmp_path):
    """A real SMTP server offering STARTTLS with a certificate from a throwaway CA (the file
    the service is told to trust), and AUTH: SMTP_PASSWORD crosses it, as in production."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    controller, recorder = start_smtp(starttls=context)
    yield controller.port, str(ca_file), recorder
    controller.stop()


@pytest.fixture
def peers():
    """Twilio, the merchant's endpoint (500 first) and BigCommerce's API (down)."""
    running = [TwilioServer().start(), Endpoint(statuses=[500]).start()]
    running.append(Endpoint(then=503).start())
    yield running
    for peer in running:
        peer.stop()


def _twilio_signature(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    signed = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(
        hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    ).decode()


def _story() -> list:
    """Both customers' orders, with their consent to texts, and one delivery of every other
    source; then forgeries: a bad HMAC, a wrong static credential, a missing URL token."""
    a_placed = b.order_with_sms_consent(fixture_body("shopify", "orders_create"))
    valid = [shopify("orders_create", a_placed), *STORY[1:], *b.b_story(sms=True)]
    valid += [request_for(source, name) for source, name in OTHERS]
    forged = shopify("orders_paid", webhook_id="forged")
    forged.headers["X-Shopify-Hmac-Sha256"] = "AAAA" + forged.headers["X-Shopify-Hmac-Sha256"][4:]
    refused = [
        forged,
        ups.request("track_alert__delivered", credential="not-the-credential"),
        shippo.request("track_updated__delivered", token=None),
        bigcommerce.request("order_updated", token="not-the-header-token"),
    ]
    return [(request, True) for request in valid] + [(request, False) for request in refused]


class Deployment:
    """The three processes, their environment and their logs."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir = env, log_dir
        self.processes: list[Process] = []
        self.url = env["PUBLIC_BASE_URL"]

    def start(self, name: str, *args: str) -> Process:
        process = Process([ORDERTRACK, *args], self.env, self.log_dir / f"{name}.log")
        self.processes.append(process)
        return process

    def command(self, name: str, *args: str, stdin: str) -> subprocess.Popen:
        """A one-off command (its output logged like the others'), left running."""
        with (self.log_dir / f"{name}.log").open("ab") as log:
            command = subprocess.Popen(
                [ORDERTRACK, *args], stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                env=self.env,
            )  # fmt: skip
        command.stdin.write(stdin.encode())
        command.stdin.close()
        return command

    def healthy(self) -> bool:
        assert all(p.running() for p in self.processes), self.logs().decode(errors="replace")
        try:
            return requests.get(f"{self.url}/healthz", timeout=2).ok
        except requests.RequestException:
            return False

    def post(self, request) -> requests.Response:
        return requests.post(
            self.url + request.path, data=request.body, headers=request.headers, timeout=30
        )

    def logs(self) -> bytes:
        return b"".join(path.read_bytes() for path in sorted(self.log_dir.glob("*.log")))

    def stop(self) -> None:
        """SIGTERM to all at once (each finishes its work and says so), then wait for each."""
        for process in self.processes:
            if process.running():
                process.popen.terminate()
        for process in self.processes:
            with suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=20)
            process.kill()  # whatever of its group is left


@pytest.fixture
def deployment(postgres_url, base_env, smtp_tls, peers, tmp_path):
    smtp_port, ca_file, _ = smtp_tls
    twilio, merchant, platform = peers
    redis = RedisServer(tmp_path).start()
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    env = dict(os.environ) | {
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis.url,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{free_port()}",
        "LOG_LEVEL": "DEBUG",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_FROM": "orders@shop.test",
        "SMTP_STARTTLS": "true",
        "SMTP_CA_FILE": ca_file,
        "SMTP_USERNAME": SMTP_LOGIN,
        "SMTP_PASSWORD": SMTP_PASSWORD,
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM": FROM,
        "TWILIO_API_BASE": twilio.url,
        "SMS_QUIET_HOURS": "off",
        "MERCHANT_WEBHOOK_URL": f"{merchant.url}/ordertrack-events",
        "MERCHANT_WEBHOOK_SECRET": MERCHANT_SECRET,
        "MERCHANT_EMAIL": "ops@shop.test",
        "ALLOW_PRIVATE_WEBHOOK_URLS": "true",
        "BIGCOMMERCE_API_BASE": platform.url,
        "BIGCOMMERCE_TIMEOUT_SECONDS": "2",
        "SWEEP_INTERVAL_SECONDS": "1",
        "SWEEP_AFTER_SECONDS": "1",
        "DELAY_CHECK_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    running = Deployment(env, log_dir)
    try:
        port = env["PUBLIC_BASE_URL"].rsplit(":", 1)[1]
        running.start("web", "serve", "--host", "127.0.0.1", "--port", port, "--workers", "1")
        running.start("worker", "worker", "--processes", "1", "--threads", "4")
        running.start("sweeper", "sweep")
        wait_for(running.healthy, timeout=60, what="ordertrack serve to answer")
        yield running
    finally:
        running.stop()
        redis.stop()


def _settled(engine) -> bool:
    with engine.connect() as connection:
        inbox = connection.execute(select(Inbox.status)).scalars().all()
        outbox = connection.execute(select(Outbox.status)).scalars().all()
    return not set(inbox) & {"pending", "processing"} and not set(outbox) & {
        "pending",
        "sending",
        "ambiguous",
    }


def _customer_visits(deployment: Deployment, smtp) -> list[str]:
    """What customer A does with the email, the look-up form; returns the links they hold."""
    [first, *_] = smtp.to(A_EMAIL)
    text = first.get_body(preferencelist=("plain",)).get_content()
    links = re.findall(rf"{re.escape(deployment.url)}/(?:t|unsubscribe)/[\w.-]+", text)
    assert {link.split("/")[3] for link in links} == {"t", "unsubscribe"}, links
    for link in links:
        assert requests.get(link, timeout=10).status_code == 200
    unsubscribe = next(link for link in links if "/unsubscribe/" in link)
    assert requests.post(unsubscribe, timeout=10).status_code == 200
    for email in (A_EMAIL, "eve@example.net"):
        form = {"order_number": "#1042", "email": email}
        requests.post(f"{deployment.url}/track", data=form, timeout=10, allow_redirects=False)
    return [link.rsplit("/", 1)[1] for link in links]


def _merchant_and_staff(deployment: Deployment) -> list[str]:
    """The API with the right token and a wrong one; the console with a wrong password and
    the right one (the account was added by `ordertrack user add` meanwhile). Returns the
    console's session cookies (credentials, too)."""
    for token in ("test-api-token", "a-wrong-token"):
        requests.get(
            f"{deployment.url}/api/v1/orders/shopify/{b.ORDER_ID}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
    cookies = []
    with requests.Session() as console:
        for password in ("wrong-password-1234", STAFF_PASSWORD):
            page = console.get(f"{deployment.url}/admin/login", timeout=10).text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            form = {"email": STAFF, "password": password, "csrf_token": csrf}
            console.post(f"{deployment.url}/admin/login", data=form, timeout=10)
            cookies += [cookie.value for cookie in console.cookies]
        assert console.get(f"{deployment.url}/admin/orders", timeout=10).status_code == 200
    return cookies


def _status_callbacks(deployment: Deployment, twilio: TwilioServer) -> list[str]:
    """Twilio reports each text delivered (signed); a forger reports one failed. Returns the
    signatures sent."""
    signatures = []
    for message in twilio.messages:
        params = {"MessageSid": message["sid"], "MessageStatus": "delivered", "To": message["to"]}
        params |= {"AccountSid": ACCOUNT, "From": FROM}
        url = message["status_callback"]
        for token in (AUTH_TOKEN, "forged-auth-token"):
            signature = _twilio_signature(url, params, token)
            signatures.append(signature)
            requests.post(
                url,
                data=urlencode(params),
                headers={
                    "X-Twilio-Signature": signature,
                    "Content-Type": "application/x-www-form-urlencoded",
                },
                timeout=10,
            )
    return signatures


def _forms(value: str) -> set[str]:
    """The ways a log line could hold `value`: as is, URL-encoded, as JSON, in base64."""
    forms = {value, quote(value, safe=""), json.dumps(value)[1:-1]}
    forms.add(base64.b64encode(value.encode()).decode().rstrip("="))
    return {form for form in forms if len(form) >= 6}


def _line_with(text: str, value: str) -> str | None:
    """The first log line holding `value` in any of its forms."""
    for form in _forms(value):
        at = text.find(form)
        if at >= 0:
            return text[text.rfind("\n", 0, at) + 1 : text.find("\n", at)][:300]
    return None


@pytest.mark.fault("LOG-1")
@pytest.mark.timeout(240)
def test_no_process_logs_a_secret_or_personal_data(
    deployment, smtp_tls, peers, postgres_url, figures
):
    _, _, smtp = smtp_tls
    twilio, merchant, platform = peers
    smtp.scripted[A_EMAIL] = ["451 4.3.0 ada@example.com mailbox busy, try later"]
    smtp.scripted[b.EMAIL] = ["550 5.1.1 <grace@example.org>: Recipient address rejected"]
    twilio.script = {A_PHONE: [CREATED_THEN_500], b.PHONE: [INVALID_TO]}

    add_user = deployment.command(
        "user-add", "user", "add", STAFF, "--role", "admin", stdin=STAFF_PASSWORD
    )
    story = _story()
    for request, valid in story:
        answer = deployment.post(request)
        assert (answer.status_code < 300) == valid, (request.source, request.name, answer.text)
    # A row only the sweeper can find: committed, never queued (Redis lost it).
    lost = shopify(
        "orders_paid", b.rewritten(fixture_body("shopify", "orders_paid")), webhook_id="lost"
    )
    engine = make_engine(postgres_url)
    with engine.begin() as connection:
        [lost_id] = record(connection, [new_delivery(lost)])

    def done() -> bool:
        with engine.connect() as connection:
            swept = connection.scalar(select(Inbox.status).where(Inbox.id == lost_id))
        ops_events = [r for r in merchant.requests if json.loads(r.body)["type"].startswith("ops.")]
        return (
            swept != "pending"
            and bool(smtp.to(A_EMAIL))
            and len(twilio.messages) >= 1
            and bool(ops_events)
            and _settled(engine)
        )

    wait_for(done, timeout=90, what="the story, its failures and the sweeper's work", interval=0.2)
    links = _customer_visits(deployment, smtp)
    assert add_user.wait(timeout=60) == 0, (deployment.log_dir / "user-add.log").read_text()
    cookies = _merchant_and_staff(deployment)
    twilio_signatures = _status_callbacks(deployment, twilio)
    wait_for(lambda: _settled(engine), timeout=30, what="every row to settle")
    with engine.connect() as connection:
        query = select(Outbox.channel, Outbox.recipient, Outbox.status, Outbox.attempts)
        messages = connection.execute(query).all()
    engine.dispose()
    deployment.stop()
    # The failures did happen: retried and sent, or failed for good.
    ended = Counter(
        (channel, to, status, attempts > 1) for channel, to, status, attempts in messages
    )
    emailed_a = {(status, retried) for channel, to, status, retried in ended if to == A_EMAIL}
    assert ("sent", False) in emailed_a and any(retried for _, retried in emailed_a), ended
    assert ended["sms", A_PHONE, "delivered", True] == 1, "created, 500, found by the look-up"
    for failed_for_good in (("email", b.EMAIL), ("sms", b.PHONE)):
        assert ended[(*failed_for_good, "failed", False)] == 1, ended
    assert ended["merchant_webhook", "merchant", "sent", True] >= 1, ended

    secrets = [
        *SECRETS.values(),
        *(value for name, value in deployment.env.items() if name.startswith("WEBHOOK_TOKEN_")),
        bigcommerce.ACCESS_TOKEN,
        "test-api-token",
        *deployment.env["SIGNING_SECRET"].split(","),
        SMTP_PASSWORD,
        AUTH_TOKEN,
        MERCHANT_SECRET,
        MERCHANT_SECRET.removeprefix("whsec_"),
        STAFF_PASSWORD,
        *cookies,
        *links,
    ]
    signatures = [
        value
        for request, _ in story
        for name, value in request.headers.items()
        if any(hint in name.lower() for hint in ("signature", "hmac", "credential", "token"))
    ]
    signatures += twilio_signatures
    signatures += [r.headers["webhook-signature"] for r in merchant.requests]
    signatures += [r.headers["Authorization"].split()[1] for r in twilio.requests]
    bodies = b"".join(request.body for request, _ in story) + lost.body
    personal = {m.decode() for m in _EMAIL.findall(bodies) + _PHONE.findall(bodies)}
    personal -= {"orders@shop.test"}
    personal |= {
        A_EMAIL,
        A_PHONE,
        b.EMAIL,
        b.PHONE,
        "Lovelace",
        "12 Analytical Avenue",
        "7 Compiler Court",
    }

    logged = deployment.logs()
    text = logged.decode(errors="replace")
    found = {
        (kind, value): _line_with(text, value)
        for kind, values in (("secret", secrets), ("signature", signatures), ("personal", personal))
        for value in values
        if _line_with(text, value)
    }
    assert not found, "\n".join(
        f"{kind} {value!r} in: {line}" for (kind, value), line in found.items()
    )
    # The story did happen, and was logged (by id, masked).
    assert len(smtp.to(A_EMAIL)) >= 1 and smtp.attempts[b.EMAIL] >= 1
    assert len(merchant.requests) >= 2 and platform.requests, "merchant retried; BigCommerce tried"
    assert len(twilio.messages) >= 1 and any(r.method == "GET" for r in twilio.requests)
    for process in ("web", "worker", "sweeper"):
        assert (deployment.log_dir / f"{process}.log").stat().st_size > 0, process

    needles = len(secrets) + len(signatures) + len(personal)
    figures.add("logs", f"{len(logged) // 1024} KiB from web, worker, sweeper at DEBUG")
    figures.add(
        "searched", f"{needles} values (secrets, signatures, personal) in 4 forms each: 0 found"
    )
