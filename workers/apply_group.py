"""Group apply: the worker threads of one process hand their inbox rows to whichever of them
is free to apply them, several rows per transaction (ordertrack/apply_batch.py).

Why: Dramatiq gives each thread one message. Applied one per transaction, each row pays the
whole fixed cost of a transaction; grouped, the rows that arrive while a batch is being
applied wait for the next one and share it, as the receiver's inbox writer groups commits.
A thread that finds a lane free becomes its leader: it takes what is waiting (its own row
among it), applies it, hands each thread its row's outcome and leaves. No thread of its own
to start or stop, and one thread alone applies its row at once.

Each message is still acknowledged only after its own row is applied and committed, by its
own thread, which also enqueues what its row queued: the queue's guarantees are unchanged.
"""

import itertools
import threading
import time
from concurrent.futures import Future

from ordertrack.apply_batch import ApplyRows, RowOutcome
from ordertrack.pipeline import Start

#: Batches applied at once per process: while one waits on PostgreSQL, another runs Python.
LANES = 2
#: Seconds after which a batch no longer holds its lane: one waiting on a lock or a slow
#: source API must not hold up every other row of the process.
SLOW_SECONDS = 0.25
#: The most rows in one transaction: its locks are held until the last one is applied.
MAX_BATCH = 32


class Interrupted(Exception):
    """The thread applying this row's batch was interrupted (a time limit, a shutdown): the row
    stays as the interruption left it, and is retried."""


class GroupApplier:
    def __init__(self, apply: ApplyRows, lanes: int = LANES, max_batch: int = MAX_BATCH):
        self._apply = apply
        self._lanes, self._max_batch = lanes, max_batch
        self._changed = threading.Condition()
        self._waiting: list[tuple[int, Future]] = []
        #: batch number -> when it started
        self._running: dict[int, float] = {}
        self._numbers = itertools.count()

    def apply(self, inbox_id: int) -> RowOutcome:
        """This row's outcome, once the batch holding it has committed (or failed)."""
        mine: Future = Future()
        with self._changed:
            self._waiting.append((inbox_id, mine))
        while not mine.done():
            self._lead_or_wait(mine)
        return mine.result()

    def _lead_or_wait(self, mine: Future) -> None:
        """Apply what waits, if a lane is free; else wait a moment for one, or for our row.
        Whatever interrupts a leader (an exception, Dramatiq's time limit) after it took a
        batch still settles every row of it, so no thread waits for a batch nobody runs."""
        batch: list[tuple[int, Future]] = []
        number = None
        try:
            with self._changed:
                if mine.done():
                    return
                if self._busy_lanes() >= self._lanes or not self._waiting:
                    self._changed.wait(timeout=SLOW_SECONDS / 2)
                    return
                number = next(self._numbers)
                self._running[number] = time.monotonic()
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
            _hand_out(batch, self._apply([inbox_id for inbox_id, _ in batch]))
        except Exception as exc:
            _fail(batch, exc)
        except BaseException:
            _fail(batch, Interrupted("the batch's thread was interrupted"))
            raise
        finally:
            if number is not None:
                with self._changed:
                    self._running.pop(number, None)
                    self._changed.notify_all()

    def _busy_lanes(self) -> int:
        now = time.monotonic()
        return sum(1 for started in self._running.values() if now - started < SLOW_SECONDS)


def _hand_out(batch: list[tuple[int, Future]], outcomes: dict[int, RowOutcome]) -> None:
    """Each thread its row's outcome. A row the queue handed out twice, and which came twice
    in one batch, is the first thread's: the others have nothing to do."""
    seen = set()
    for inbox_id, future in batch:
        first = inbox_id not in seen
        seen.add(inbox_id)
        future.set_result(outcomes[inbox_id] if first else RowOutcome(Start.NOTHING_TO_DO))


def _fail(batch: list[tuple[int, Future]], exc: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
