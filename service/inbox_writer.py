"""Group commit for the inbox: request threads hand their row to one writer thread, which
inserts whatever has queued up in a single statement and a single commit, then wakes them.

A request still answers only after its own row is committed ("2xx = committed"), but one
fsync serves every request that arrived during the previous one. Committed ids go to a relay
thread that enqueues them, so a slow or absent Redis never holds up an acknowledgement.
"""

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from sqlalchemy import Engine

from ordertrack.errors import StoreUnavailable
from ordertrack.store.inbox import NewDelivery, record

log = logging.getLogger(__name__)

#: Rows per statement; beyond this a batch's latency grows faster than it saves.
MAX_BATCH = 256

#: How long the relay gathers committed ids before one pipelined enqueue. It delays
#: processing, never the acknowledgement.
RELAY_GATHER_SECONDS = 0.01


class InboxWriter:
    def __init__(
        self, engine: Engine, enqueue: Callable[[list[int]], None], commit_timeout: float
    ) -> None:
        self._engine = engine
        self._enqueue = enqueue
        self._timeout = commit_timeout
        self._pending: queue.SimpleQueue[tuple[NewDelivery, Future]] = queue.SimpleQueue()
        self._committed: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pid: int | None = None

    def write(self, delivery: NewDelivery) -> int | None:
        """Block until the row is committed: its id, or None for a duplicate."""
        self._ensure_threads()
        future: Future = Future()
        self._pending.put((delivery, future))
        try:
            return future.result(timeout=self._timeout)
        except TimeoutError:
            raise StoreUnavailable("the database did not commit in time; retry later") from None

    def _ensure_threads(self) -> None:
        """Threads start in the process that serves (after gunicorn forks), once."""
        import os

        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                threading.Thread(target=self._write_loop, name="inbox-writer", daemon=True).start()
                threading.Thread(target=self._relay_loop, name="inbox-relay", daemon=True).start()
                self._pid = os.getpid()

    def _next_batch(self) -> list[tuple[NewDelivery, Future]]:
        batch = [self._pending.get()]
        while len(batch) < MAX_BATCH:
            try:
                batch.append(self._pending.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write_loop(self) -> None:
        connection = None  # this thread's own, kept open: no pool round trip per batch
        while True:
            batch = self._next_batch()
            try:
                connection = connection or _connect(self._engine)
                ids = _record_batch(connection, [delivery for delivery, _ in batch])
            except Exception as exc:
                connection = _discard(connection)
                log.warning(
                    "inbox commit failed for %d deliveries: %s", len(batch), type(exc).__name__
                )
                error = StoreUnavailable("the database cannot commit the delivery; retry later")
                for _, future in batch:
                    future.set_exception(error)
                continue
            for (_, future), inbox_id in zip(batch, ids, strict=True):
                future.set_result(inbox_id)
            new_ids = [i for i, (d, _) in zip(ids, batch, strict=True) if i and d.handled]
            if new_ids:
                self._committed.put(new_ids)

    def _relay_loop(self) -> None:
        while True:
            ids = self._committed.get()
            # Gather what commits in the next few milliseconds: one Redis round trip then
            # carries many messages, which costs far less per event than many small ones.
            deadline = time.monotonic() + RELAY_GATHER_SECONDS
            while len(ids) < MAX_BATCH and (wait := deadline - time.monotonic()) > 0:
                try:
                    ids += self._committed.get(timeout=wait)
                except queue.Empty:
                    break
            try:
                self._enqueue(ids)
            except Exception as exc:
                # The rows are committed and pending: the sweeper sends them when Redis is back.
                log.warning(
                    "could not enqueue %d events (%s); the sweeper will",
                    len(ids),
                    type(exc).__name__,
                )


def _discard(connection) -> None:
    """After a failure the connection may be broken: drop it, the next batch reconnects."""
    if connection is not None:
        try:
            connection.invalidate()
            connection.close()
        except Exception:
            log.debug("closing a failed inbox connection failed too", exc_info=True)


def _connect(engine: Engine):
    """On PostgreSQL the batch is one INSERT statement, so it runs in autocommit: committed
    (durably) when it returns, in one round trip instead of three."""
    connection = engine.connect()
    if engine.dialect.name == "postgresql":
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
    return connection


def _record_batch(connection, deliveries: list[NewDelivery]) -> list[int | None]:
    if connection.dialect.name == "postgresql":
        return record(connection, deliveries)
    with connection.begin():
        return record(connection, deliveries)
