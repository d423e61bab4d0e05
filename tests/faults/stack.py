"""The "run it at scale" deployment as real processes, for the multi-process smoke test and the
LOAD-2 soak alike: gunicorn (`ordertrack serve --workers 2`), two `ordertrack worker`
processes and `ordertrack sweep`, on PostgreSQL and a private redis-server, sending to a real
SMTP server (aiosmtpd) and a Twilio-shaped HTTP server. Every process is started in its own
process group and stopped by its own id.

The SMTP sink can hold one message in flight, so a test knows which worker process is in the
middle of a send when it kills it: before the message is taken (`BEFORE`), or after the
server has taken it and before the client hears so (`AFTER`, the ambiguous window)."""

import asyncio
import email
import email.policy
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlsplit

import requests
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from ordertrack.store.migrate import upgrade
from ordertrack.store.models import Inbox, Outbox, OutboxStatus
from tests.integration.test_simulate import API_TOKEN, SECRETS, TOKENS
from tests.support import twilio
from tests.support.processes import HEARTBEATS, ORDERTRACK, Process, RedisServer, wait_for
from tests.support.smtp import Recorder, free_port

#: The settings a developer's shell may hold that must not reach the stack.
_OURS = (
    "WEBHOOK_",
    "BIGCOMMERCE_",
    "SMTP_",
    "REDIS_URL",
    "DATABASE_URL",
    "TWILIO_",
    "MERCHANT_",
    "ALLOW_PRIVATE",
    "SMS_",
    "NOTIF",
    "SHOP_",
    "SIGNING_",
    "METRICS_",
    "PROMETHEUS_",
    "API_TOKEN",
)

#: The stack's settings (multi_stack() adds where its servers are; a caller may override):
#: news goes out at once, retries come quickly, the sweeper looks every second.
SETTINGS = {
    "SMTP_HOST": "127.0.0.1",
    "SMTP_FROM": "orders@shop.test",
    "SIGNING_SECRET": "stack-signing-secret",
    "NOTIFY_COALESCE_SECONDS": "0",
    "RETRY_MIN_BACKOFF_MS": "100",
    "RETRY_MAX_BACKOFF_MS": "2000",
    "SWEEP_INTERVAL_SECONDS": "1",
    "SWEEP_AFTER_SECONDS": "10",
    "LOG_LEVEL": "WARNING",
}
#: Where the sink holds a message: before it takes it, or after (the client not yet told).
BEFORE, AFTER = "before", "after"
MESSAGE_ID = re.compile(r"<ordertrack\.(\d+)\.\d+@")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ordertrack setting, plus the simulation's
    secrets and `extra`: what every process of the stack, and `ordertrack simulate`, get."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    secrets = {f"WEBHOOK_SECRET_{s.upper()}": value for s, value in SECRETS.items()}
    tokens = {f"WEBHOOK_TOKEN_{s.upper()}": value for s, value in TOKENS.items()}
    return {**keep, **secrets, **tokens, "API_TOKEN": API_TOKEN, **extra}


# The SMTP sink.


@dataclass
class Held:
    """A message the sink is holding: the client's address, so its process can be found."""

    mode: str
    peer: tuple[str, int]
    message_id: str
    release: asyncio.Event
    #: aiosmtpd's protocol object of the connection: its transport is None once it is lost.
    server: object

    def dropped(self) -> bool:
        return self.server.transport is None

    @property
    def outbox_id(self) -> int:
        return int(MESSAGE_ID.match(self.message_id).group(1))


@dataclass
class Sink(Recorder):
    """An SMTP server's recorder that can hold the next message (see the module's doc)."""

    held: list[Held] = field(default_factory=list)
    #: (mode, words the subject must contain) of the next message to hold.
    _armed: tuple[str, str] | None = None

    def arm(self, mode: str, subject: str = "") -> None:
        """Hold the next message whose subject contains `subject`, in `mode`."""
        self._armed = (mode, subject)

    def release(self, held: Held) -> None:
        self.loop.call_soon_threadsafe(held.release.set)

    def copies(self) -> Counter:
        """Message-ID -> how many times the sink took it."""
        return Counter(m["Message-ID"] for m in list(self.messages))

    def arrivals(self, message_id: str) -> list[str]:
        """When (and from which client port) each copy of a message was taken."""
        return [
            f"{m['X-Sink-At']} from {m['X-Sink-Peer']}"
            for m in list(self.messages)
            if m["Message-ID"] == message_id
        ]

    def _take(self, message, session) -> None:
        message["X-Sink-At"] = f"{time.time():.3f}"
        message["X-Sink-Peer"] = str(session.peer[1])
        self.messages.append(message)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        armed = self._armed
        if armed is None or armed[1] not in message["Subject"]:
            self._take(message, session)
            return "250 Message accepted for delivery"
        self._armed = None
        mode = armed[0]
        held = Held(mode, session.peer, message["Message-ID"], asyncio.Event(), server)
        self.held.append(held)
        if mode == AFTER:  # taken: from here the message exists, whatever the client hears
            self._take(message, session)
        await held.release.wait()  # cancelled if the client's connection drops meanwhile
        if mode == BEFORE:
            self._take(message, session)
        return "250 Message accepted for delivery"

    def refuse(self, count: int, address: str, reply: str = "451 4.3.0 Try again later") -> None:
        """The next `count` RCPTs for `address` are answered `reply` (SMTP-1's burst)."""
        self.scripted.setdefault(address, []).extend([reply] * count)


# The Twilio-shaped server.


class TwilioServer:
    """Twilio's Messages resource on a local port (tests/support/twilio.py's behaviour over
    real HTTP, for worker processes): a POST creates a text, or is answered 429 with
    Retry-After while `throttle(n)` lasts; a GET lists the texts, newest first, by To."""

    def __init__(self) -> None:
        self.fake = twilio.FakeTwilio()
        self.lock = threading.Lock()
        self.throttled = 0
        self.refused = 0
        #: outbox id (from the status callback URL) -> texts created for it.
        self.by_outbox: Counter = Counter()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "TwilioServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def throttle(self, count: int) -> None:
        """Answer the next `count` POSTs 429 (code 20429, Retry-After: 1): SMS-1."""
        with self.lock:
            self.throttled += count

    def created(self) -> int:
        return len(self.fake.messages)

    def _handler(self):
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet: the test reads the counts
                pass

            def _answer(self, status: int, payload: dict, **headers: str) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                with sink.lock:
                    if sink.throttled:
                        sink.throttled -= 1
                        sink.refused += 1
                        error = {"code": 20429, "message": "Too Many Requests", "status": 429}
                        return self._answer(429, error, **{"Retry-After": "1"})
                    message = sink.fake.create(form)
                    callback = parse_qs(urlsplit(form.get("StatusCallback", "")).query)
                    sink.by_outbox[int(callback.get("outbox", ["0"])[0])] += 1
                self._answer(201, message)

            def do_GET(self) -> None:
                to = parse_qs(urlsplit(self.path).query).get("To", [None])[0]
                with sink.lock:
                    listed = [m for m in reversed(sink.fake.messages) if to in (None, m["to"])]
                page = {"messages": listed, "page": 0, "page_size": 50, "next_page_uri": None}
                self._answer(200, page)

        return Handler


# A private PostgreSQL cluster, for the faults that stop the database.


class PostgresCluster:
    """initdb in a temporary folder (owned by `postgres`: PostgreSQL refuses to run as root),
    served on a free port; `stop()` is an immediate shutdown (a crash, as far as clients see)."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="ordertrack-pg-"))
        self.log = log_dir / f"postgres-{self.port}.log"
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        assert bins, "PostgreSQL's binaries are not in /usr/lib/postgresql/*/bin"
        self.bin = bins[-1]
        shutil.chown(self.dir, "postgres", "postgres")
        self.log.touch()
        shutil.chown(self.log, "postgres", "postgres")
        self._as_postgres("initdb", "-D", str(self.dir), "--auth=trust", "-U", "postgres")

    def _as_postgres(self, program: str, *args: str) -> None:
        argv = ["runuser", "-u", "postgres", "--", str(self.bin / program), *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> "PostgresCluster":
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._as_postgres(
            "pg_ctl", "-D", str(self.dir), "-o", options, "-l", str(self.log), "-w", "start"
        )
        return self

    def stop(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.dir), "-m", "immediate", "stop")

    def create_database(self, name: str) -> str:
        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = self.url(name)
        upgrade(url)
        return url

    def remove(self) -> None:
        with suppress(AssertionError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class DurableRedis(RedisServer):
    """A private redis-server that keeps its data across a restart (append-only file, synced
    on every write), as a production Redis does: Q-6 restarts it, ING-6 takes it away."""

    def start(self) -> "DurableRedis":
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.log_dir)]
        self.process = Process(argv, dict(os.environ), self.log_dir / f"redis-{self.port}.log")
        wait_for(self._answers, timeout=20, what=f"redis-server on port {self.port}")
        return self

    def restart(self) -> None:
        """SIGTERM (it writes what it holds), then the same port again."""
        assert self.process is not None
        self.process.stop(timeout=10)
        self.start()


# The stack.


def group_members(leader: int) -> list[int]:
    """Every live process in `leader`'s process group but the leader (its forked children)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == leader:
            continue
        with suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == leader and fields[0] != "Z":  # pgrp; not a zombie
                members.append(int(entry.name))
    return sorted(members)


def rss_kb(pid: int) -> int | None:
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def _socket_inode(local_port: int, remote_port: int) -> str | None:
    """The inode of the TCP connection 127.0.0.1:local_port -> 127.0.0.1:remote_port."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local, remote = parts[1].split(":"), parts[2].split(":")
        if int(local[1], 16) == local_port and int(remote[1], 16) == remote_port:
            return parts[9]
    return None


def _holds_socket(pid: int, inode: str) -> bool:
    with suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with suppress(OSError):
                if os.readlink(fd) == f"socket:[{inode}]":
                    return True
    return False


@dataclass
class MultiStack:
    database_url: str
    log_dir: Path
    env: dict[str, str]
    redis: RedisServer
    sink: Sink
    smtp_port: int
    twilio: TwilioServer
    url: str = ""
    web: Process | None = None
    workers: list[Process] = field(default_factory=list)
    sweeper: Process | None = None
    worker_threads: int = 4
    _started: int = 0

    def __post_init__(self) -> None:
        self.engine = create_engine(self.database_url, poolclass=NullPool)

    def _process(self, argv: list[str], name: str) -> Process:
        self._started += 1
        return Process(argv, self.env, self.log_dir / f"{name}-{self._started}.log")

    def start_web(self, workers: int = 2, threads: int = 8) -> None:
        port = free_port()
        argv = [ORDERTRACK, "serve", "--host", "127.0.0.1", "--port", str(port)]
        self.web = self._process(
            [*argv, "--workers", str(workers), "--threads", str(threads)], "gunicorn"
        )
        self.url = f"http://127.0.0.1:{port}"

        def serving() -> bool:
            assert self.web.running(), self.web.log()
            with suppress(requests.RequestException):
                return (
                    len(group_members(self.web.pid)) >= workers
                    and requests.get(f"{self.url}/healthz", timeout=2).ok
                )
            return False

        wait_for(serving, timeout=60, what="gunicorn to answer", interval=0.2)

    def start_worker(self) -> Process:
        """`ordertrack worker --processes 1`, returned once its child polls the broker."""
        client = self.redis.client()
        known = {m.decode() for m in client.zrange(HEARTBEATS, 0, -1)}
        argv = [ORDERTRACK, "worker", "--processes", "1", "--threads", str(self.worker_threads)]
        process = self._process(argv, "worker")
        self.workers.append(process)

        def polling() -> bool:
            assert process.running(), f"worker exited:\n{process.log()}"
            return any(m.decode() not in known for m in client.zrange(HEARTBEATS, 0, -1))

        wait_for(polling, timeout=60, what="the worker to poll Redis", interval=0.2)
        return process

    def start_sweeper(self) -> None:
        self.sweeper = self._process([ORDERTRACK, "sweep"], "sweeper")

    def stop_worker(self, worker: Process) -> None:
        """SIGTERM, as a deploy does: in-flight messages finish, then it exits."""
        worker.stop(timeout=60)
        self.workers.remove(worker)

    def worker_children(self) -> list[int]:
        return [pid for w in self.workers for pid in group_members(w.pid)]

    def pid_holding(self, held: Held) -> int:
        """The worker process whose connection the sink is holding."""
        inode = _socket_inode(held.peer[1], self.smtp_port)
        assert inode, f"no connection from port {held.peer[1]}"
        owners = [pid for pid in self.worker_children() if _holds_socket(pid, inode)]
        assert len(owners) == 1, f"the held connection belongs to {owners}"
        return owners[0]

    def processes(self) -> dict[str, int]:
        """Name -> pid of every process of ours (for memory): web, workers, sweeper."""
        named = {}
        for role, leaders in (
            ("web", [self.web]),
            ("worker", self.workers),
            ("sweeper", [self.sweeper]),
        ):
            for leader in leaders:
                if leader is None or not leader.running():
                    continue
                named[f"{role} {leader.pid}"] = leader.pid
                for pid in group_members(leader.pid):
                    named[f"{role} {leader.pid}/{pid}"] = pid
        return named

    def logs(self, tail: int = 2000) -> str:
        paths = sorted(self.log_dir.glob("*.log"))
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-tail:]}" for p in paths)

    # The database: what the checks count.

    def inbox_keys(self) -> set[tuple[str, str]]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(Inbox.source, Inbox.dedupe_key))
            return {(source, key) for source, key in rows}

    def inbox_statuses(self) -> Counter:
        with self.engine.connect() as connection:
            return Counter(connection.scalars(select(Inbox.status)))

    def outbox(self) -> list[tuple[int, str, str, str, str | None]]:
        """(id, kind, channel, status, message id) of every notification."""
        with self.engine.connect() as connection:
            query = select(
                Outbox.id, Outbox.kind, Outbox.channel, Outbox.status, Outbox.message_id
            ).order_by(Outbox.id)
            return [tuple(row) for row in connection.execute(query)]

    def settled(self) -> bool:
        unfinished = {"pending", "processing", "parked"}
        if unfinished & set(self.inbox_statuses()):
            return False
        return not any(status in OutboxStatus.UNFINISHED for *_, status, _ in self.outbox())

    def wait_settled(self, timeout: float) -> None:
        try:
            wait_for(self.settled, timeout=timeout, what="every row to settle", interval=0.5)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\noutbox: {self.outbox()[-20:]}\n{self.logs()}") from None

    def attempts(self, outbox_id: int) -> list[tuple]:
        """(attempt, at, outcome, reason) of one notification, for failure messages."""
        with self.engine.connect() as connection:
            query = text(
                "SELECT attempt, at, outcome, reason FROM outbox_attempts"
                " WHERE outbox_id = :id ORDER BY id"
            )
            return [tuple(row) for row in connection.execute(query, {"id": outbox_id})]

    def age_lease(self, outbox_id: int) -> None:
        """Move a killed send's lease into the past: its worker is dead (the caller saw it
        die), and the lease (minutes at these timeouts) only stands in for that wait."""
        with self.engine.begin() as connection:
            connection.execute(
                text(
                    "UPDATE outbox SET touched_at = touched_at - interval '1 hour'"
                    " WHERE id = :id AND status = 'sending'"
                ),
                {"id": outbox_id},
            )

    def age_stranded_leases(self, older_than: float = 5.0) -> int:
        """Age every send still `sending` `older_than` seconds after its claim: with a local
        sink a live worker's send takes milliseconds, so these are the other sends a killed
        worker had in flight (its other threads), not only the one the test held."""
        with self.engine.begin() as connection:
            return connection.execute(
                text(
                    "UPDATE outbox SET touched_at = touched_at - interval '1 hour'"
                    " WHERE status = 'sending'"
                    " AND touched_at < now() - make_interval(secs => :seconds)"
                ),
                {"seconds": older_than},
            ).rowcount

    def close(self) -> None:
        for process in [self.sweeper, *reversed(self.workers), self.web]:
            if process is not None:
                process.stop(timeout=30)
        self.engine.dispose()


@contextmanager
def multi_stack(
    database_url: str, log_dir: Path, *, redis: RedisServer | None = None, **settings: str
) -> Iterator[MultiStack]:
    """gunicorn with 2 workers, 2 `ordertrack worker` processes and `ordertrack sweep` on
    `database_url` (migrated), a private Redis (or `redis`), an SMTP sink and a Twilio-shaped
    server; `settings` override the stack's environment. Everything stops on the way out."""
    redis = redis or RedisServer(log_dir)
    if redis.process is None:
        redis.start()
    controller = None
    twilio_server = TwilioServer().start()
    stack = None
    try:
        controller, sink = _start_sink()
        env = clean_env(**{
            **SETTINGS,
            **twilio.ENV,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            "SMTP_PORT": str(controller.port),
            "TWILIO_API_BASE": twilio_server.url,
            **settings,
        })  # fmt: skip
        stack = MultiStack(database_url, log_dir, env, redis, sink, controller.port, twilio_server)
        stack.start_web()
        env["PUBLIC_BASE_URL"] = stack.url
        stack.start_worker()
        stack.start_worker()
        stack.start_sweeper()
        yield stack
    finally:
        if stack is not None:
            stack.close()
        if controller is not None:
            controller.stop()
        twilio_server.stop()
        redis.stop()


def _start_sink() -> tuple[Controller, Sink]:
    """A real SMTP server (aiosmtpd) on a free port, a Sink recording what it takes."""
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    sink.loop = controller.loop
    return controller, sink


def kill_in_flight(stack: MultiStack, mode: str, timeout: float, subject: str = "") -> Held:
    """Hold the next message (whose subject contains `subject`) in `mode`, SIGKILL the
    worker process sending it, and let the message go."""
    seen = len(stack.sink.held)
    stack.sink.arm(mode, subject)
    wait_for(lambda: len(stack.sink.held) > seen, timeout=timeout, what="an email in flight")
    held = stack.sink.held[seen]
    pid = stack.pid_holding(held)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: rss_kb(pid) is None or _zombie(pid), timeout=10, what=f"pid {pid} to die")
    # The server must see the connection go before the message is let go: then the held
    # DATA is cancelled, as a real server drops a message whose client hung up mid-reply.
    wait_for(held.dropped, timeout=10, what="the sink to see the connection drop")
    stack.sink.release(held)
    return held


def _zombie(pid: int) -> bool:
    with suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    return True
