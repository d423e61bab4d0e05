"""The receiver while PostgreSQL is stalled (issue 13, defect 10): another transaction holds an
ACCESS EXCLUSIVE lock on the inbox, so no INSERT into it can finish. Webhooks get 503 in
bounded time, the rows waiting for the writer stay bounded (503 at once when full), and once
the stall clears the inbox holds exactly the webhooks answered 2xx: none answered 503."""

import threading
import time

import pytest
from sqlalchemy import create_engine, select, text

from ordertrack.store.models import Inbox
from tests.support.harness import start_service
from tests.support.webhooks import shopify

COMMIT_TIMEOUT = 1.0


@pytest.fixture
def receiver(postgres_url, base_env, monkeypatch):
    """The app on PostgreSQL, no worker: only the receiver and its inbox writer run. Call it
    with extra settings."""
    running = []

    def _start(**env: str):
        monkeypatch.setenv("DATABASE_URL", postgres_url)
        monkeypatch.setenv("COMMIT_TIMEOUT_SECONDS", str(COMMIT_TIMEOUT))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        running.append(start_service(with_worker=False))
        return running[-1]

    yield _start
    for service in running:
        service.stop()


class Stall:
    """Another client holding the inbox table with ACCESS EXCLUSIVE: every INSERT waits."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.connection = self.engine.connect()
        self.connection.begin()
        self.connection.execute(text("LOCK TABLE inbox IN ACCESS EXCLUSIVE MODE"))

    def clear(self) -> None:
        self.connection.rollback()
        self.connection.close()
        self.engine.dispose()


class Senders:
    """Threads posting webhooks, each with a fresh delivery id; every answer is kept."""

    def __init__(self, service) -> None:
        self.service = service
        self.answers: list[tuple[str, int, float]] = []
        self.lock = threading.Lock()
        self.count = 0

    def post(self) -> tuple[str, int, float]:
        with self.lock:
            self.count += 1
            key = f"stall-{self.count}"
        started = time.monotonic()
        response = self.service.post(shopify("orders_create", webhook_id=key))
        answer = (key, response.status_code, time.monotonic() - started)
        assert response.status_code in (202, 503), response.json
        assert response.json, "every answer has a JSON body"
        with self.lock:
            self.answers.append(answer)
        return answer

    def keep_posting(self, threads: int, until: float) -> list[threading.Thread]:
        def loop() -> None:
            while time.monotonic() < until:
                self.post()

        started = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
        for thread in started:
            thread.start()
        return started

    def keys(self, status: int) -> set[str]:
        return {key for key, code, _ in self.answers if code == status}


def _stored(service) -> set[str]:
    with service.runtime.sessions() as session:
        return set(session.scalars(select(Inbox.dedupe_key)))


def _longest_inbox_insert(service) -> float:
    """Seconds the oldest INSERT into the inbox has been running, 0 when none is."""
    with service.runtime.engine.connect() as connection:
        return connection.scalar(
            text(
                "SELECT coalesce(max(extract(epoch FROM now() - query_start)), 0)"
                " FROM pg_stat_activity"
                " WHERE state = 'active' AND query ILIKE '%INSERT INTO inbox%'"
                " AND datname = current_database() AND pid <> pg_backend_pid()"
            )
        )


def test_webhooks_answered_503_in_a_stall_are_never_stored_and_every_2xx_is(receiver, postgres_url):
    service = receiver()
    senders = Senders(service)
    stall = Stall(postgres_url)
    try:
        threads = senders.keep_posting(6, until=time.monotonic() + 4.5)
        time.sleep(3)
        # The writer's statement gives up with its requests: none outlives the timeout.
        assert _longest_inbox_insert(service) < COMMIT_TIMEOUT + 1.0
    finally:
        stall.clear()
    for thread in threads:
        thread.join(timeout=10)
    time.sleep(2 * COMMIT_TIMEOUT)  # anything still on its way lands meanwhile

    refused, accepted = senders.keys(503), senders.keys(202)
    assert refused, "the stall was answered 503"
    assert accepted, "once the stall cleared, webhooks were accepted again"
    assert _stored(service) == accepted, "stored rows are exactly the 2xx answers"
    slowest = max(seconds for _, _, seconds in senders.answers)
    assert slowest < 2 * COMMIT_TIMEOUT + 1.5, f"an answer took {slowest:.2f} s"


def test_when_the_rows_waiting_for_the_database_reach_the_limit_the_next_gets_503_at_once(
    receiver, postgres_url
):
    # A long commit timeout: the queue stays full while the test looks, however busy the machine.
    service = receiver(INBOX_QUEUE_LIMIT="4", COMMIT_TIMEOUT_SECONDS="6")
    writer = service.app.extensions["ordertrack"].inbox_writer
    senders = Senders(service)
    stall = Stall(postgres_url)
    try:
        first = threading.Thread(target=senders.post, daemon=True)
        first.start()
        _wait_until(lambda: _longest_inbox_insert(service) > 0)  # the writer waits on the lock
        waiting = [threading.Thread(target=senders.post, daemon=True) for _ in range(4)]
        for thread in waiting:
            thread.start()
        _wait_until(lambda: writer.waiting == 4)  # four rows wait behind it: the limit

        key, status, seconds = senders.post()
    finally:
        stall.clear()
    for thread in [first, *waiting]:
        thread.join(timeout=15)
    time.sleep(2 * COMMIT_TIMEOUT)

    assert status == 503
    assert seconds < 1.0, f"answered after {seconds:.2f} s, not at once (the timeout is 6 s)"
    assert key not in _stored(service)
    assert _stored(service) == senders.keys(202)


def _wait_until(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the receiver never reached the state under test"
        time.sleep(0.02)
