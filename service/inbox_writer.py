"""Group commit for the inbox: request threads hand their row to one writer thread, which
inserts whatever has queued up in a single statement and a single commit, then wakes them.

A request still answers only after its own row is committed ("2xx = committed"), but one
fsync serves every request that arrived during the previous one. Committed ids go to a relay
thread that enqueues them, so a slow or absent Redis never holds up an acknowledgement.

The converse holds too: a request answered 503 is never committed later. The race is between
a request that stops waiting (COMMIT_TIMEOUT_SECONDS) and a writer whose statement may still
succeed, say once a lock the database waited on is released. One lock (`_lock`) decides it,
through each entry's state:

    WAITING  -> TAKEN       the writer puts it in a batch (BEGIN; INSERT ...)
    TAKEN    -> COMMITTING  the INSERT returned and no entry of the batch was given up:
                            now, and only now, the writer sends COMMIT
    WAITING | TAKEN -> GIVEN_UP   its request timed out first: answered 503. A WAITING entry
                            is skipped; a TAKEN one makes the writer roll the batch back
                            instead of committing it, and try its other entries again
    COMMITTING -> DONE      the COMMIT's outcome is the request's answer
    COMMITTING -> LATE      the COMMIT went unanswered for another COMMIT_TIMEOUT_SECONDS

So a request that times out either gives its row up before COMMIT is sent (503, never
stored), or finds the COMMIT already sent and waits for its outcome, which takes
milliseconds. Two cases remain that no database client can close, both answered 503: the
COMMIT fails (the connection drops, the server dies), so whether it happened is unknown; or
it goes unanswered (LATE: a frozen server or disk), and if it then succeeds the writer logs
the rows committed late. Either way the sender's retry finds the row and is answered 200
"duplicate", with no second effect.

That is why a batch is an explicit transaction (BEGIN, INSERT, COMMIT: two more round trips
than an autocommit INSERT, which would commit before the writer could look). The writer's
statements carry a PostgreSQL statement_timeout of COMMIT_TIMEOUT_SECONDS: past
it every request in the batch has given up, so a stalled INSERT is cancelled rather than
left to hold a connection and the batches behind it. The queue of rows waiting for the writer
is bounded (INBOX_QUEUE_LIMIT): during a stall a request finding it full gets 503 at once,
and a request that gives up drops its body at once, so a stall cannot fill memory.
"""

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine

from ordertrack.errors import StoreUnavailable
from ordertrack.store.inbox import NewInboxRow, record

log = logging.getLogger(__name__)

#: Rows per statement; beyond this a batch's latency grows faster than it saves.
MAX_BATCH = 256
#: Body bytes per statement: a batch of large bodies is split, so that one statement does
#: not run into the statement timeout on the bytes alone.
MAX_BATCH_BYTES = 8 * 2**20

#: How long the relay gathers committed ids before one pipelined enqueue. It delays
#: processing, never the acknowledgement.
RELAY_GATHER_SECONDS = 0.01

WAITING, TAKEN, COMMITTING, GIVEN_UP, LATE, DONE = (
    "waiting",
    "taken",
    "committing",
    "given up",
    "late",
    "done",
)


@dataclass(eq=False)
class _Entry:
    """One request's row on its way to the inbox; `state` is read and set under the lock."""

    delivery: NewInboxRow | None
    future: Future = field(default_factory=Future)
    state: str = WAITING


class InboxWriter:
    def __init__(
        self,
        engine: Engine,
        enqueue: Callable[[list[int]], None],
        commit_timeout: float,
        queue_limit: int = 1000,
    ) -> None:
        """`engine` is the writer's own: on PostgreSQL its connections should carry the
        statement timeout (`statement_timeout_ms` of `make_engine`)."""
        self._engine = engine
        self._enqueue = enqueue
        self._timeout = commit_timeout
        self._pending: queue.Queue[_Entry] = queue.Queue(maxsize=queue_limit)
        self._committed: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pid: int | None = None

    @property
    def waiting(self) -> int:
        """Rows queued for the writer and not yet taken (bounded by INBOX_QUEUE_LIMIT)."""
        return self._pending.qsize()

    def write(self, delivery: NewInboxRow) -> int | None:
        """Block until the row is committed: its id, or None for a duplicate. Raises
        StoreUnavailable (503) when it is not, and then it never will be (but see above)."""
        self._ensure_threads()
        entry = _Entry(delivery)
        try:
            self._pending.put_nowait(entry)
        except queue.Full:
            raise StoreUnavailable(
                "too many deliveries are waiting for the database; retry later"
            ) from None
        try:
            return entry.future.result(timeout=self._timeout)
        except TimeoutError:
            pass
        if self._give_up(entry):
            raise StoreUnavailable("the database did not commit in time; retry later")
        try:  # its COMMIT was sent: its outcome is the answer
            return entry.future.result(timeout=self._timeout)
        except TimeoutError:
            pass
        if self._abandon(entry):
            log.warning("an inbox COMMIT went unanswered for %.1f s; answered 503", self._timeout)
            raise StoreUnavailable("the database did not confirm the commit; retry later")
        return entry.future.result()

    def _give_up(self, entry: _Entry) -> bool:
        """True when the row was given up before its COMMIT was sent: it is never stored."""
        with self._lock:
            if entry.state in (WAITING, TAKEN):
                entry.state, entry.delivery = GIVEN_UP, None
                return True
            return False

    def _abandon(self, entry: _Entry) -> bool:
        """True when the COMMIT has still not answered: its request leaves without it."""
        with self._lock:
            if entry.future.done():
                return False
            entry.state = LATE
            return True

    def _ensure_threads(self) -> None:
        """Threads start in the process that serves (after gunicorn forks), once."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                threading.Thread(target=self._write_loop, name="inbox-writer", daemon=True).start()
                threading.Thread(target=self._relay_loop, name="inbox-relay", daemon=True).start()
                self._pid = os.getpid()

    def _next_batch(self, carried: list[_Entry]) -> list[tuple[_Entry, NewInboxRow]]:
        """Entries still wanted, marked TAKEN, with their rows (read under the lock: a
        request giving up drops its row): those carried over from a batch rolled back,
        then what has queued up (waiting for the first when nothing is carried)."""
        pulled = [] if carried else [self._pending.get()]
        size = sum(len(e.delivery.body) for e in (*carried, *pulled) if e.delivery)
        while len(carried) + len(pulled) < MAX_BATCH and size < MAX_BATCH_BYTES:
            try:
                entry = self._pending.get_nowait()
            except queue.Empty:
                break
            pulled.append(entry)
            size += len(entry.delivery.body) if entry.delivery else 0
        with self._lock:
            batch = [(e, e.delivery) for e in carried if e.state == TAKEN]
            for entry in pulled:
                if entry.state == WAITING:
                    entry.state = TAKEN
                    batch.append((entry, entry.delivery))
        return batch

    def _write_loop(self) -> None:
        connection = None  # this thread's own, kept open: no pool round trip per batch
        carried: list[_Entry] = []
        while True:
            batch = self._next_batch(carried)
            carried = []
            if not batch:
                continue
            entries = [entry for entry, _ in batch]
            try:
                connection = connection or self._engine.connect()
                carried = self._write(connection, batch)
            except Exception as exc:
                connection = _discard(connection)
                log.warning(
                    "inbox commit failed for %d deliveries: %s", len(batch), type(exc).__name__
                )
                self._fail(entries)

    def _write(self, connection: Connection, batch: list[tuple[_Entry, NewInboxRow]]):
        """Insert the batch and commit it if every request still waits; otherwise roll it
        back and return its entries, for the next batch to take those still wanted."""
        entries = [entry for entry, _ in batch]
        transaction = connection.begin()
        ids = record(connection, [delivery for _, delivery in batch])
        if not self._start_commit(entries):
            transaction.rollback()
            return entries
        transaction.commit()
        self._resolve(batch, ids)
        return []

    def _start_commit(self, batch: list[_Entry]) -> bool:
        """The point of no return, decided under the lock: COMMITTING for all, or none."""
        with self._lock:
            if any(entry.state != TAKEN for entry in batch):
                return False
            for entry in batch:
                entry.state = COMMITTING
            return True

    def _resolve(self, batch: list[tuple[_Entry, NewInboxRow]], ids: list[int | None]) -> None:
        """Committed: answer the requests still waiting, and relay the new rows."""
        late = 0
        with self._lock:
            for (entry, _), inbox_id in zip(batch, ids, strict=True):
                late += entry.state == LATE
                if entry.state == COMMITTING:
                    entry.state = DONE
                    entry.future.set_result(inbox_id)
        if late:
            log.error(
                "%d inbox rows committed after their requests were answered 503 (the commit"
                " took over %.1f s); the senders' retries will be duplicates",
                late,
                self._timeout,
            )
        new_ids = [i for i, (_, d) in zip(ids, batch, strict=True) if i and d.handled]
        if new_ids:
            self._committed.put(new_ids)

    def _fail(self, batch: list[_Entry]) -> None:
        """The batch did not commit (or its COMMIT's outcome is unknown): 503 for all."""
        error = StoreUnavailable("the database cannot commit the delivery; retry later")
        with self._lock:
            for entry in batch:
                if entry.state in (TAKEN, COMMITTING):
                    entry.state = DONE
                    entry.future.set_exception(error)

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
