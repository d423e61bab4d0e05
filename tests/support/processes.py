"""Real processes for the integration tests: a private redis-server on a free port, and
`ordertrack worker` / `ordertrack sweep` as subprocesses. Every process is started in its own
process group and stopped by its own id when the test ends, pass or fail.

`redis_stack()` puts them together with the web app in-process (on the real RedisBroker, no
worker threads of its own) and a real database: the shape of a production deployment."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest
import redis
import requests
from sqlalchemy import select

from ordertrack import providers, strictjson
from ordertrack.providers.base import WebhookRequest
from ordertrack.store.inbox import NewInboxRow, record
from ordertrack.store.migrate import upgrade
from ordertrack.store.models import Inbox, Outbox
from tests.support.harness import Service, start_service
from tests.support.smtp import free_port
from tests.support.webhooks import Request

ORDERTRACK = str(Path(sys.executable).parent / "ordertrack")
#: The broker's key prefix (workers/broker.py).
NAMESPACE = "ordertrack"
HEARTBEATS = f"{NAMESPACE}:__heartbeats__"

T = TypeVar("T")


def wait_for(probe: Callable[[], T], *, timeout: float, what: str, interval: float = 0.05) -> T:
    """Call `probe` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class Process:
    """One subprocess in its own process group (so its forked children go with it), its
    output in a log file that failure messages quote."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def log(self, tail: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:]

    def kill(self) -> None:
        """SIGKILL the whole group at once: a crash, nothing gets to clean up."""
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (finish in-flight work), then SIGKILL whatever of the group is left."""
        if self.running():
            self.popen.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        self.kill()


class RedisServer:
    """A private redis-server with no persistence: a test may crash or freeze it without
    disturbing any other test, and a restart on the same port comes back empty."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_dir = log_dir
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def start(self) -> "RedisServer":
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no"]
        self.process = Process(argv, dict(os.environ), self.log_dir / f"redis-{self.port}.log")
        wait_for(self._answers, timeout=10, what=f"redis-server on port {self.port}")
        return self

    def _answers(self) -> bool:
        assert self.process and self.process.running(), self.process and self.process.log()
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def crash(self) -> None:
        """kill -9: connections drop, everything in memory is gone."""
        assert self.process is not None
        self.process.kill()

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections, but nothing ever answers."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            if self.process.running():
                self.thaw()
            self.process.stop(timeout=5)


@dataclass
class Stack:
    """The web app in-process on a real RedisBroker, a private Redis, a real database, and
    whatever worker and sweeper subprocesses the test starts (all stopped at the end)."""

    redis: RedisServer
    service: Service
    #: The environment every subprocess gets: the test's, with REDIS_URL and DATABASE_URL.
    env: dict[str, str]
    log_dir: Path
    processes: list[Process] = field(default_factory=list)

    def _env(self, overrides: dict[str, str]) -> dict[str, str]:
        return {**self.env, **overrides}

    def worker(self, *, threads: int = 4, **env: str) -> Process:
        """`ordertrack worker --processes 1`, returned once it polls the broker."""
        client = self.redis.client()
        known = {m.decode() for m in client.zrange(HEARTBEATS, 0, -1)}
        known.add(self.service.runtime.broker.broker_id)
        argv = [ORDERTRACK, "worker", "--processes", "1", "--threads", str(threads)]
        process = self._start(argv, env, "worker")

        def polling() -> bool:
            assert process.running(), f"worker exited:\n{process.log()}"
            return any(m.decode() not in known for m in client.zrange(HEARTBEATS, 0, -1))

        wait_for(polling, timeout=20, what="the worker to poll Redis")
        return process

    def sweeper(self, **env: str) -> Process:
        """`ordertrack sweep`, looping every SWEEP_INTERVAL_SECONDS."""
        return self._start([ORDERTRACK, "sweep"], env, "sweeper")

    def sweep_once(self, **env: str) -> int:
        """`ordertrack sweep --once`; the number of inbox rows it re-enqueued."""
        done = subprocess.run(
            [ORDERTRACK, "sweep", "--once"],
            env=self._env(env),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        words = done.stdout.split()
        assert words[:1] == ["re-enqueued"], done.stdout + done.stderr
        return int(words[1])

    def _start(self, argv: list[str], env: dict[str, str], name: str) -> Process:
        log_path = self.log_dir / f"{name}-{len(self.processes)}.log"
        process = Process(argv, self._env(env), log_path)
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(f"--- {p.log_path.name}\n{p.log()}" for p in self.processes)

    # The database, read and written directly: the source of truth these tests check.

    def inbox(self) -> list[Inbox]:
        with self.service.runtime.sessions() as session:
            return list(session.scalars(select(Inbox).order_by(Inbox.id)))

    def inbox_statuses(self) -> Counter:
        return Counter(row.status for row in self.inbox())

    def outbox(self) -> list[Outbox]:
        with self.service.runtime.sessions() as session:
            return list(session.scalars(select(Outbox).order_by(Outbox.id)))

    def settled(self) -> bool:
        """No inbox row or notification is waiting for anything."""
        unfinished_inbox = {"pending", "processing", "parked"}
        unfinished_outbox = {"pending", "sending", "ambiguous"}
        return not any(r.status in unfinished_inbox for r in self.inbox()) and not any(
            r.status in unfinished_outbox for r in self.outbox()
        )

    def wait_settled(self, timeout: float = 30.0) -> None:
        try:
            wait_for(self.settled, timeout=timeout, what="every row to settle", interval=0.1)
        except AssertionError as exc:
            rows = [(r.id, r.topic, r.status, r.attempts, r.last_error) for r in self.inbox()]
            raise AssertionError(f"{exc}\ninbox: {rows}\n{self.logs()}") from None

    def store_without_enqueueing(self, requests: list[Request]) -> list[int]:
        """Commit inbox rows exactly as the receiver would, but put nothing on the queue:
        what Redis losing its data (or being down) leaves behind."""
        return self.store_raw([new_delivery(r) for r in requests])

    def store_raw(self, deliveries: list[NewInboxRow]) -> list[int]:
        with self.service.runtime.engine.begin() as connection:
            ids = record(connection, deliveries)
        assert None not in ids, "a delivery was already in the inbox"
        return ids

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.service.stop()
        self.redis.stop()


def new_delivery(request: Request) -> NewInboxRow:
    """The inbox row the receiver commits for this request (envelope read by the provider)."""
    provider = providers.get(request.source)
    delivery = WebhookRequest(body=request.body, headers=request.headers, query={})
    envelope = provider.envelope(delivery, strictjson.loads(request.body))
    return NewInboxRow(
        source=request.source,
        dedupe_key=envelope.dedupe_key,
        topic=envelope.topic,
        headers={},
        body=request.body,
        handled=envelope.handled,
    )


@contextmanager
def redis_stack(
    database_url: str, log_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    """Start a private Redis and the app on it; stop every process on the way out. Expects
    the environment already set up (base_env, and smtp for email)."""
    server = RedisServer(log_dir).start()
    try:
        monkeypatch.setenv("REDIS_URL", server.url)
        monkeypatch.setenv("DATABASE_URL", database_url)
        service = start_service(with_worker=False)
    except BaseException:
        server.stop()
        raise
    stack = Stack(server, service, dict(os.environ), log_dir)
    try:
        yield stack
    finally:
        stack.close()


@contextmanager
def dev_server(
    folder: Path, env: dict[str, str], *, stop_timeout: float = 10
) -> Iterator[tuple[str, str, Process]]:
    """`ordertrack serve --dev` on a free port, on a migrated SQLite file in `folder`, with the
    in-process queue, until the block ends: (its URL, the database URL, the process)."""
    database_url = f"sqlite:///{folder / 'ordertrack.db'}"
    upgrade(database_url)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**env, "DATABASE_URL": database_url, "PUBLIC_BASE_URL": url, "LOG_LEVEL": "WARNING"}
    process = Process(
        [ORDERTRACK, "serve", "--dev", "--port", str(port)], env, folder / "serve.log"
    )

    def healthy() -> bool:
        assert process.running(), process.log()
        try:
            return requests.get(f"{url}/healthz", timeout=1).ok
        except requests.RequestException:
            return False

    try:
        wait_for(healthy, timeout=30, what="ordertrack serve to answer")
        yield url, database_url, process
    finally:
        process.stop(timeout=stop_timeout)
