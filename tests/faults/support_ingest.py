"""What the ingest and input fault tests drive, as production runs it: the receiver under
gunicorn (`ordertrack serve`), `ordertrack worker` and `ordertrack sweep`, a private Redis, a
private PostgreSQL cluster a test may crash, a real SMTP server and a Twilio-shaped HTTP
server the worker processes reach over TCP; webhook traffic in which every event calls for
one email and one text; and the invariants I1-I4 (tests/faults/matrix.py), counted from the
database and the sinks."""

import json
import math
import os
import shutil
import subprocess
import tempfile
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import requests
from sqlalchemy import create_engine, select, text

from ordertrack.store.migrate import upgrade
from ordertrack.store.models import Inbox, Order, Outbox
from tests import conftest
from tests.support import twilio
from tests.support.processes import ORDERTRACK, Process, wait_for
from tests.support.smtp import free_port
from tests.support.sources import shopify
from tests.support.webhooks import Request, fixture_body, source_env

# -- the environment every process gets -------------------------------------------------------

#: One email and one text per event: both channels tell "out for delivery", and only that.
POLICY = """
[channels.email]
enabled = true
kinds = ["out_for_delivery"]

[channels.sms]
enabled = true
requires_consent = true
quiet_hours = "off"
kinds = ["out_for_delivery"]
"""


def service_env(folder: Path, **extra: str) -> dict[str, str]:
    """The test environment of tests/conftest.py (`base_env`) for subprocesses, without any
    setting the developer's shell may hold, plus `extra`."""
    policy = folder / "policy.toml"
    policy.write_text(POLICY)
    env = {k: v for k, v in os.environ.items() if not k.startswith(conftest._OURS)}
    env |= source_env()
    env |= {
        "API_TOKEN": "test-api-token",
        "PUBLIC_BASE_URL": "http://shop.test",
        "RETRY_MIN_BACKOFF_MS": "10",
        "RETRY_MAX_BACKOFF_MS": "200",
        "MAX_ATTEMPTS": "8",
        "NOTIFY_COALESCE_SECONDS": "0",
        "SMS_QUIET_HOURS": "off",
        "SIGNING_SECRET": "test-signing-secret",
        "NOTIFICATION_POLICY_FILE": str(policy),
        "LOG_LEVEL": "INFO",
    }
    return env | extra


# -- processes ---------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    found: list[int] = []
    with suppress(FileNotFoundError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


def rss_mb(pid: int) -> float:
    """The process's resident memory; 0 once it has gone (a web worker replaced, say)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Receiver:
    """`ordertrack serve`: gunicorn's master and its web worker processes."""

    process: Process
    url: str
    workers: int

    def worker_pids(self) -> list[int]:
        return children(self.process.pid)

    def answers(self) -> bool:
        assert self.process.running(), self.process.log()
        try:
            return requests.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def wait_ready(self, timeout: float = 60) -> None:
        """Every web worker has loaded the app (gunicorn listens before they have)."""
        wait_for(
            lambda: len(self.worker_pids()) == self.workers and self.answers(),
            timeout=timeout,
            what="ordertrack serve to answer",
            interval=0.1,
        )

    def rss(self) -> dict[int, float]:
        return {pid: rss_mb(pid) for pid in [self.process.pid, *self.worker_pids()]}


def serve(
    env: dict[str, str],
    log_dir: Path,
    *,
    workers: int = 2,
    threads: int = 32,
    wait: bool = True,
    **flags: str,
) -> Receiver:
    """`ordertrack serve` on a free port; with `wait`, once every web worker answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [ORDERTRACK, "serve", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", str(workers), "--threads", str(threads)]
    for name, value in flags.items():
        argv += [f"--{name.replace('_', '-')}", value]
    process = Process(argv, {**env, "PUBLIC_BASE_URL": url}, log_dir / f"web-{port}.log")
    receiver = Receiver(process, url, workers)
    try:
        if wait:
            receiver.wait_ready()
    except BaseException:
        process.stop(timeout=3)
        raise
    return receiver


class PostgresCluster:
    """A PostgreSQL cluster of the test's own, in a temporary folder (fsync on, as in
    production): crash it with `crash()` (`pg_ctl stop -m immediate`), start it again. Never
    the machine's shared cluster."""

    def __init__(self) -> None:
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        assert versions, "PostgreSQL server binaries are not installed"
        self.bin = versions[-1].parent
        self.folder = Path(tempfile.mkdtemp(prefix="ordertrack-pg-"))
        shutil.chown(self.folder, "postgres")
        self.data = self.folder / "data"
        self.port = free_port()
        self.log = self.folder / "postgres.log"

    def _as_postgres(self, *argv: str, timeout: float = 60) -> None:
        done = subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, f"{argv}: {done.stdout}{done.stderr}\n{self.server_log()}"

    def server_log(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def init(self) -> "PostgresCluster":
        # --no-sync only skips flushing initdb's own files; the server keeps fsync on.
        initdb = [str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "root"]
        self._as_postgres(*initdb, "-E", "UTF8", "--no-sync")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log),
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def crash(self) -> None:
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://root@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        admin = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        upgrade(self.url(name))
        return self.url(name)

    def close(self) -> None:
        with suppress(AssertionError, subprocess.TimeoutExpired):
            self._as_postgres(
                str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"
            )
        shutil.rmtree(self.folder, ignore_errors=True)


class TwilioServer:
    """tests/support/twilio.py's Messages resource served over HTTP on 127.0.0.1, for worker
    processes (TWILIO_API_BASE): each POST creates a text, GET lists them."""

    def __init__(self) -> None:
        self.fake = twilio.FakeTwilio()
        self.lock = threading.Lock()
        fake, lock = self.fake, self.lock

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, callback) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                request = SimpleNamespace(body=body, url=f"https://api.twilio.com{self.path}")
                with lock:
                    status, headers, payload = callback(request)
                data = payload.encode()
                self.send_response(status)
                for name, value in {**headers, "Content-Type": "application/json"}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                self._answer(fake._create)

            def do_GET(self) -> None:
                self._answer(fake._list)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def env(self) -> dict[str, str]:
        return {
            "TWILIO_ACCOUNT_SID": twilio.ACCOUNT,
            "TWILIO_AUTH_TOKEN": twilio.AUTH_TOKEN,
            "TWILIO_FROM": twilio.FROM,
            "TWILIO_API_BASE": f"http://127.0.0.1:{self.server.server_port}",
        }

    def texts_to(self) -> Counter:
        with self.lock:
            return Counter(message["to"] for message in self.fake.messages)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- traffic -----------------------------------------------------------------------------------

_ORDER = json.loads(fixture_body("shopify", "orders_create"))
_FULFILLMENT = json.loads(fixture_body("shopify", "fulfillments_create"))


def _number(tag: str) -> int:
    return zlib.crc32(tag.encode()) % 1000


def phone(tag: str, n: int) -> str:
    """A number of its own for each (test, event) of up to 10 000: +1 555 TTT NNNN."""
    assert n < 10_000
    return f"+1555{_number(tag):03d}{n:04d}"


def order_event(tag: str, n: int) -> Request:
    """Shopify orders/create for an order of its own, already out for delivery, whose customer
    agreed to texts: under POLICY it calls for exactly one email and one text."""
    order = json.loads(json.dumps(_ORDER))
    order_id = int(f"7{_number(tag):03d}{n:06d}")
    email = f"{tag}.{n}@example.test"
    order |= {"id": order_id, "name": f"#{tag}-{n}", "email": email, "phone": None}
    order["customer"] |= {"email": email, "phone": phone(tag, n)}
    order["customer"]["sms_marketing_consent"] = {"state": "subscribed"}
    fulfillment = json.loads(json.dumps(_FULFILLMENT))
    fulfillment |= {
        "id": order_id + 1,
        "order_id": order_id,
        "shipment_status": "out_for_delivery",
        "tracking_number": f"9400{order_id:018d}",
        "tracking_url": None,
        "email": email,
    }
    order["fulfillments"] = [fulfillment]
    body = json.dumps(order).encode()
    return shopify.request("orders_create", body, webhook_id=f"{tag}-{n}")


@dataclass
class Answer:
    key: str
    #: (HTTP status or None for a connection error, seconds) of every attempt, in order.
    attempts: list[tuple[int | None, float]] = field(default_factory=list)

    @property
    def status(self) -> int | None:
        return self.attempts[-1][0]

    @property
    def accepted(self) -> bool:
        return any(status is not None and 200 <= status < 300 for status, _ in self.attempts)


def post_all(
    url: str,
    requests_to_send: Iterable[Request],
    *,
    clients: int,
    retry: Callable[[int | None], bool] = lambda status: False,
    pace: float = 0.0,
    timeout: float = 10,
    give_up_after: float = 60,
) -> list[Answer]:
    """Post every request from `clients` threads, each with its own keep-alive connection
    (and `pace` seconds between its requests), as a sender does: an answer `retry` names is
    retried (after 0.2 s) until it is not, or until `give_up_after` seconds have passed."""
    local = threading.local()

    def send(request: Request) -> Answer:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        answer = Answer(request.headers.get("X-Shopify-Webhook-Id", request.name))
        deadline = time.monotonic() + give_up_after
        while True:
            started = time.monotonic()
            try:
                response = local.session.post(
                    url + request.path, data=request.body, headers=request.headers, timeout=timeout
                )
                status: int | None = response.status_code
            except requests.RequestException:
                status = None
                local.session = requests.Session()
            answer.attempts.append((status, time.monotonic() - started))
            if not retry(status) or time.monotonic() > deadline:
                time.sleep(pace)
                return answer
            time.sleep(0.2)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(send, list(requests_to_send)))


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile: p99 of 300 values is the third largest."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# -- the invariants ----------------------------------------------------------------------------


class Ledger:
    """One test's rows, read from the database: its inbox rows and its orders' outbox rows."""

    def __init__(self, url: str, tag: str) -> None:
        self.tag = tag
        # One connection, checked before each use: the database may have been restarted.
        self.engine = create_engine(url, pool_size=1, pool_pre_ping=True)

    def _read(self, query):
        with self.engine.connect() as connection:
            return connection.execute(query).all()

    def close(self) -> None:
        self.engine.dispose()

    def inbox(self) -> dict[str, str]:
        """dedupe key -> status, for this test's deliveries."""
        rows = self._read(
            select(Inbox.dedupe_key, Inbox.status).where(Inbox.dedupe_key.like(f"{self.tag}-%"))
        )
        return dict(rows)

    def outbox(self) -> list[tuple[int, str, str, str]]:
        """(id, channel, recipient, status) of every notification of this test's orders."""
        return self._read(
            select(Outbox.id, Outbox.channel, Outbox.recipient, Outbox.status)
            .join(Order, Order.id == Outbox.order_id)
            .where(Order.name.like(f"#{self.tag}-%"))
        )

    def settled(self, expected: int) -> bool:
        """Every row of the test's events is processed and every notification sent."""
        try:
            inbox, outbox = self.inbox(), self.outbox()
        except Exception:  # the database may be coming back: not settled yet
            return False
        return (
            len(inbox) == expected
            and set(inbox.values()) == {"processed"}
            and len(outbox) == 2 * expected
            and {status for *_, status in outbox} == {"sent"}
        )

    def wait_settled(self, expected: int, timeout: float, logs: Callable[[], str]) -> float:
        """Seconds it took; on a timeout, the states found and the processes' logs."""
        started = time.monotonic()
        try:
            wait_for(lambda: self.settled(expected), timeout=timeout, what="I2", interval=0.2)
        except AssertionError as exc:
            inbox = Counter(self.inbox().values())
            outbox = Counter(status for *_, status in self.outbox())
            raise AssertionError(f"{exc}\ninbox {inbox}, outbox {outbox}\n{logs()}") from None
        return time.monotonic() - started


def email_copies(smtp_messages, tag: str) -> Counter:
    """Outbox id -> copies received, of this test's emails: each Message-ID names its outbox
    row (`<ordertrack.<outbox id>.<order id>@...>`)."""
    return Counter(
        int(str(m["Message-ID"]).strip("<>").split(".")[1])
        for m in list(smtp_messages)
        if f"{tag}." in str(m["To"])
    )


def assert_i1_to_i4(ledger: Ledger, answers: list[Answer], smtp_messages, texts: Counter) -> None:
    """I1: the ids answered 2xx are the inbox rows. (I2, all processed and sent, is what
    `wait_settled` waited for.) I3: the sinks hold one email per email row and one text per
    text row. I4: no copies."""
    accepted = {a.key for a in answers if a.accepted}
    assert set(ledger.inbox()) == accepted, "I1: the ids answered 2xx are not the inbox rows"
    outbox = ledger.outbox()
    email_rows = {i for i, channel, *_ in outbox if channel == "email"}
    text_rows = {recipient for _, channel, recipient, _ in outbox if channel == "sms"}
    emails = email_copies(smtp_messages, ledger.tag)
    texts = Counter({to: n for to, n in texts.items() if to in text_rows})
    assert set(emails) == email_rows, "I3: the emails at the sink are not the email rows"
    assert set(texts) == text_rows, "I3: the texts at the sink are not the text rows"
    assert sum(emails.values()) == len(emails), f"I4: emails sent twice {emails.most_common(3)}"
    assert sum(texts.values()) == len(texts), f"I4: texts sent twice {texts.most_common(3)}"
