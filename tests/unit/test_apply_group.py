"""Group apply (workers/apply_group.py) as threads see it: rows that arrive while batches run
share the next batch, each thread gets its own row's outcome or its batch's failure, slow
batches give up their lane, and a batch never grows past its bound.

No database: the applier takes any `apply(ids) -> {id: outcome}`, and here that is `Rows`,
which records every batch and holds it until the test lets it finish. Threads are ordered
with events and queues; the only waits are for what must not happen."""

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from dramatiq.middleware.time_limit import TimeLimitExceeded

from ordertrack import pipeline
from ordertrack.apply_batch import RowOutcome
from workers import apply_group
from workers.apply_group import GroupApplier, Interrupted

#: Longer than any test: a batch is "slow" only where a test says so.
NEVER_SLOW = 60.0
WAIT = 5.0


@dataclass
class Batch:
    ids: list[int]
    thread: threading.Thread
    started: float
    finish: threading.Event = field(default_factory=threading.Event)
    #: What the batch raises instead of returning, if anything.
    raises: BaseException | None = None


class Rows:
    """The `apply` callable: every batch is announced on `batches` and returns once the test
    sets its `finish`; each row's outcome is its own object, kept in `outcomes`."""

    def __init__(self) -> None:
        self.batches: queue.Queue[Batch] = queue.Queue()
        self.seen: list[Batch] = []
        self.outcomes: dict[int, RowOutcome] = {}
        self.running = 0
        self.most_running = 0
        self.fail: dict[int, BaseException] = {}
        self._lock = threading.Lock()

    def __call__(self, ids: list[int]) -> dict[int, RowOutcome]:
        batch = Batch(list(ids), threading.current_thread(), time.monotonic())
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            self.seen.append(batch)
        self.batches.put(batch)
        try:
            assert batch.finish.wait(WAIT), f"batch {ids} was never let finish"
            for inbox_id in ids:
                if inbox_id in self.fail:
                    raise self.fail[inbox_id]
            found = {i: RowOutcome(pipeline.Start.STARTED, pipeline.Processed()) for i in ids}
            self.outcomes.update(found)
            return found
        finally:
            with self._lock:
                self.running -= 1

    def next_batch(self) -> Batch:
        return self.batches.get(timeout=WAIT)

    def sizes(self) -> list[int]:
        return [len(batch.ids) for batch in self.seen]


class Worker(threading.Thread):
    """A Dramatiq worker thread with one message: its row's outcome, or what it raised."""

    def __init__(self, applier: GroupApplier, inbox_id: int) -> None:
        super().__init__(name=f"worker-{inbox_id}", daemon=True)
        self.applier, self.inbox_id = applier, inbox_id
        self.outcome: RowOutcome | None = None
        self.raised: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.outcome = self.applier.apply(self.inbox_id)
        except BaseException as exc:
            self.raised = exc

    def done(self) -> "Worker":
        self.join(WAIT)
        assert not self.is_alive(), f"row {self.inbox_id}'s thread never returned"
        return self


@pytest.fixture
def rows() -> Iterator[Rows]:
    found = Rows()
    yield found
    for batch in found.seen:  # a failed test leaves no thread waiting
        batch.finish.set()


@pytest.fixture
def never_slow(monkeypatch) -> None:
    monkeypatch.setattr(apply_group, "SLOW_SECONDS", NEVER_SLOW)


def _until_waiting(applier: GroupApplier, count: int) -> None:
    """Until `count` rows wait for a batch (read from the applier's queue of rows)."""
    deadline = time.monotonic() + WAIT
    while len(applier._waiting) < count:
        assert time.monotonic() < deadline, f"{count} rows never waited"
        time.sleep(0.001)


def _busy_lanes(applier: GroupApplier, rows: Rows, first_id: int) -> list[Worker]:
    """Every lane running a batch of one row, held until the test finishes it."""
    workers = []
    for n in range(apply_group.LANES):
        workers.append(Worker(applier, first_id + n))
        assert rows.next_batch().ids == [first_id + n]
    return workers


def test_one_thread_alone_applies_its_row_at_once(rows):
    applier = GroupApplier(rows)
    worker = Worker(applier, 7)
    rows.next_batch().finish.set()
    assert worker.done().outcome is rows.outcomes[7]
    assert rows.seen[0].thread is worker


def test_rows_arriving_while_batches_run_are_applied_together_in_the_next(rows, never_slow):
    applier = GroupApplier(rows)
    first, second = _busy_lanes(applier, rows, 1)
    arriving = [Worker(applier, inbox_id) for inbox_id in (3, 4, 5)]
    _until_waiting(applier, 3)

    rows.seen[0].finish.set()
    together = rows.next_batch()
    assert together.ids == [3, 4, 5]
    assert together.thread in arriving, "one of them leads it"
    together.finish.set()
    rows.seen[1].finish.set()

    for worker in [first, second, *arriving]:
        assert worker.done().outcome is rows.outcomes[worker.inbox_id], "its own row's"
        assert worker.raised is None
    assert rows.sizes() == [1, 1, 3]


def test_an_exception_from_a_batch_reaches_every_thread_of_that_batch_and_only_them(
    rows, never_slow
):
    applier = GroupApplier(rows)
    lanes = _busy_lanes(applier, rows, 1)
    failing = [Worker(applier, inbox_id) for inbox_id in (3, 4, 5)]
    _until_waiting(applier, 3)
    refused = RuntimeError("the database refused the batch")
    rows.fail[4] = refused

    rows.seen[0].finish.set()
    rows.next_batch().finish.set()
    for worker in failing:
        assert worker.done().raised is refused
        assert worker.outcome is None
    later = Worker(applier, 6)
    assert rows.next_batch().ids == [6]
    rows.seen[-1].finish.set()
    rows.seen[1].finish.set()

    for worker in [*lanes, later]:
        assert worker.done().raised is None
        assert worker.outcome is rows.outcomes[worker.inbox_id]
    assert rows.sizes() == [1, 1, 3, 1]


def test_no_more_batches_run_at_once_than_lanes_while_none_is_slow(rows, never_slow):
    applier = GroupApplier(rows)
    lanes = _busy_lanes(applier, rows, 1)
    third = Worker(applier, 3)
    _until_waiting(applier, 1)
    third.join(0.2)  # what must not happen: a third batch starting
    assert rows.sizes() == [1, 1]

    rows.seen[0].finish.set()
    assert rows.next_batch().ids == [3]
    for batch in rows.seen:
        batch.finish.set()
    for worker in [*lanes, third]:
        assert worker.done().outcome is rows.outcomes[worker.inbox_id]
    assert rows.most_running == apply_group.LANES


def test_a_batch_slower_than_slow_seconds_lets_a_new_batch_start_beside_it(rows):
    applier = GroupApplier(rows)
    lanes = _busy_lanes(applier, rows, 1)
    third = Worker(applier, 3)

    beside = rows.next_batch()
    assert beside.ids == [3]
    assert not any(batch.finish.is_set() for batch in rows.seen[:2]), "both still running"
    waited = beside.started - rows.seen[0].started
    assert waited >= apply_group.SLOW_SECONDS * 0.9, "not before the first was slow"
    for batch in rows.seen:
        batch.finish.set()
    for worker in [*lanes, third]:
        assert worker.done().outcome is rows.outcomes[worker.inbox_id]
    assert rows.most_running == apply_group.LANES + 1


def test_an_interruption_of_the_leader_is_raised_in_it_and_the_others_get_interrupted(
    rows, never_slow
):
    """Dramatiq's time limit raises TimeLimitExceeded (a BaseException) in a thread past its
    limit; if that thread leads a batch, the rows of its batch are left to a retry."""
    applier = GroupApplier(rows)
    lanes = _busy_lanes(applier, rows, 1)
    batch_of_three = [Worker(applier, inbox_id) for inbox_id in (3, 4, 5)]
    _until_waiting(applier, 3)
    rows.fail[5] = TimeLimitExceeded()

    rows.seen[0].finish.set()
    led = rows.next_batch()
    led.finish.set()
    for worker in batch_of_three:
        worker.done()
    (leader,) = [w for w in batch_of_three if w is led.thread]
    assert isinstance(leader.raised, TimeLimitExceeded)
    others = [w for w in batch_of_three if w is not leader]
    assert all(isinstance(w.raised, Interrupted) for w in others), [w.raised for w in others]

    after = Worker(applier, 6)
    rows.next_batch().finish.set()
    rows.seen[1].finish.set()
    for worker in [*lanes, after]:
        assert worker.done().outcome is rows.outcomes[worker.inbox_id], "the lane was freed"


def test_max_batch_bounds_a_batch(rows, never_slow):
    applier = GroupApplier(rows)
    lanes = _busy_lanes(applier, rows, 1)
    count = apply_group.MAX_BATCH + 5
    waiting = [Worker(applier, 100 + n) for n in range(count)]
    _until_waiting(applier, count)

    rows.seen[0].finish.set()
    full = rows.next_batch()
    rows.seen[1].finish.set()
    rest = rows.next_batch()
    full.finish.set()
    rest.finish.set()

    assert (len(full.ids), len(rest.ids)) == (apply_group.MAX_BATCH, 5)
    assert sorted(full.ids + rest.ids) == [w.inbox_id for w in waiting]
    for worker in [*lanes, *waiting]:
        assert worker.done().outcome is rows.outcomes[worker.inbox_id]
    assert rows.sizes() == [1, 1, apply_group.MAX_BATCH, 5]


def test_a_row_handed_out_twice_in_one_batch_is_the_first_threads_the_other_has_nothing_to_do(
    rows, never_slow
):
    applier = GroupApplier(rows)
    busy = _busy_lanes(applier, rows, 1)
    twice = [Worker(applier, 9), Worker(applier, 9)]
    _until_waiting(applier, 2)
    for batch in [rows.seen[0], rows.seen[1]]:
        batch.finish.set()
    assert rows.next_batch().ids == [9, 9]
    rows.seen[2].finish.set()
    outcomes = [worker.done().outcome for worker in twice]
    assert sum(outcome is rows.outcomes[9] for outcome in outcomes) == 1
    [other] = [outcome for outcome in outcomes if outcome is not rows.outcomes[9]]
    assert (other.start, other.processed, other.error) == (
        pipeline.Start.NOTHING_TO_DO,
        None,
        None,
    )
    assert all(worker.done().outcome is rows.outcomes[worker.inbox_id] for worker in busy)
