"""The use case "apply inbox rows": several rows in one transaction.

Why: applying one row costs about fifteen statements, and a third of them (counting the
attempt, claiming the row, committing twice, adding to the day rollups) are the same for any
number of rows. Here a batch counts its attempts in three statements and one commit, claims
its rows in one statement, applies them in one transaction, and adds its rollups once, at
that transaction's commit (store/rollups.Tally).

What stays as it was for a single row: the attempt is committed before the work (a worker
killed mid-way has counted it); a row another worker holds is left to it; rows are applied in
id order, each seeing what the rows before it did (two rows of one order apply as they would
one after the other); a row that fails is reported as its own outcome, and the others still
commit (applied again without it). A row whose source asks its API for what the
webhook names (BigCommerce) is applied in a transaction of its own: a slow API must not hold
the other rows' locks.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from ordertrack import pipeline, providers
from ordertrack.settings import Settings
from ordertrack.store import orders
from ordertrack.store.models import Inbox


@dataclass
class RowOutcome:
    """What became of one row: its start, then what it queued, or the error it failed with."""

    start: pipeline.Start
    processed: pipeline.Processed | None = None
    error: Exception | None = None


def apply_rows(
    sessions: sessionmaker[Session], inbox_ids: list[int], settings: Settings
) -> dict[int, RowOutcome]:
    """Apply these rows; the caller enqueues what each outcome queued, after this returns
    (every transaction has committed by then). Raises only when counting the attempts fails,
    which then applied nothing."""
    with sessions.begin() as session:
        starts = pipeline.start_attempts(
            session, inbox_ids, settings.max_attempts, datetime.now(UTC)
        )
    outcomes = {inbox_id: RowOutcome(start) for inbox_id, start in starts.items()}
    started = [i for i, o in outcomes.items() if o.start is pipeline.Start.STARTED]
    if not started:
        return outcomes
    alone = _apply_together(sessions, started, outcomes, settings)
    for row_id in alone:
        _apply_together(sessions, [row_id], outcomes, settings, alone=True)
    return outcomes


#: Times a batch's transaction is run again after losing a deadlock to another one.
RACES = 3


def _apply_together(
    sessions: sessionmaker[Session],
    inbox_ids: list[int],
    outcomes: dict[int, RowOutcome],
    settings: Settings,
    alone: bool = False,
) -> list[int]:
    """One transaction over these rows; returns the rows left for a transaction of their own.

    No savepoint per row (two more statements each): a row that fails rolls the whole
    transaction back, and the others are applied again without it, in a new one. Failures
    are rare; applying is idempotent. A transaction that loses a deadlock to another is run
    again whole: no row of it is at fault. A row not claimed (finished, or another worker's
    meanwhile) has nothing to do."""
    left: list[int] = []
    pending, races = list(inbox_ids), 0
    while pending:
        claimed: list[int] = []
        current: int | None = None
        try:
            with sessions.begin() as session:
                rows = pipeline.claim_many(session, pending)
                if not alone and len(rows) > 1:
                    left += [row.id for row in rows if _fetches(row)]
                    rows = [row for row in rows if not _fetches(row)]
                claimed = [row.id for row in rows]
                facts = _read_and_lock(session, rows, outcomes, settings)
                for row in rows:
                    if row.id in facts:
                        current = row.id
                        processed = pipeline.process(session, row, settings, facts[row.id])
                        outcomes[row.id].processed = processed
                current = None  # what fails now is the commit, every row's
        except Exception as exc:
            for inbox_id in claimed:
                if outcomes[inbox_id].error is None:
                    outcomes[inbox_id].processed = None  # rolled back
            if _lost_a_race(exc) and races < RACES:
                races += 1
                continue
            failed = [current] if current is not None else claimed or pending
            for inbox_id in failed:
                outcomes[inbox_id].error = exc
            pending = [i for i in claimed if i not in failed and outcomes[i].error is None]
            continue
        break
    for inbox_id in inbox_ids:
        outcome = outcomes[inbox_id]
        if outcome.processed is None and outcome.error is None and inbox_id not in left:
            outcome.processed = pipeline.Processed()
    return left


def _read_and_lock(
    session: Session, rows: list[Inbox], outcomes: dict[int, RowOutcome], settings: Settings
) -> dict[int, list | None]:
    """Each row's facts (a row that cannot be read fails alone, before anything is written),
    and the batch's locks taken up front: tracking numbers first, then the orders the rows
    name, in id order, as one row takes its own. Taken row by row instead, two batches could
    wait on each other (a deadlock PostgreSQL breaks by failing one)."""
    if len(rows) == 1:  # alone: `process` reads it (and asks a fetching source's API) itself
        return {rows[0].id: None}
    facts = {}
    for row in rows:
        try:
            facts[row.id] = pipeline.facts_of(row, settings)
        except Exception as exc:
            outcomes[row.id].error = exc
    read = list(facts.values())
    orders.lock_tracking_numbers(session, set().union(*map(pipeline.tracking_numbers, read)))
    orders.lock_many(session, set().union(*map(pipeline.orders_named, read)))
    return facts


def _lost_a_race(exc: Exception) -> bool:
    """PostgreSQL broke a deadlock (40P01) or a serialization conflict (40001) by failing
    this transaction."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in ("40P01", "40001")


def _fetches(row: Inbox) -> bool:
    return providers.fetches(providers.get(row.source))


#: How a queue edge applies rows: `apply_rows` with its sessions and settings bound.
ApplyRows = Callable[[list[int]], dict[int, RowOutcome]]
