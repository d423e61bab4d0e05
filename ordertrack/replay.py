"""Replay: apply webhooks again, by id or by a filter. One use case for the CLI, the console
and the API.

Replaying is applying again: the pipeline is idempotent (history rows are keyed by webhook and
fact, outbox rows are once-only), so replaying a processed webhook changes nothing, and
replaying a failed or parked one gives it a fresh set of attempts now that the cause (a
missing secret, a bug, an order that had not arrived) may be gone. Rows are marked in chunks,
each chunk's ids handed to `enqueue` after its commit.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from ordertrack.store.models import Inbox, InboxStatus

#: What can be replayed: a webhook that is ignored (a topic we do not use) has nothing to apply.
REPLAYABLE = (InboxStatus.FAILED, InboxStatus.PARKED, InboxStatus.PROCESSED)
CHUNK = 500


class NothingNamed(ValueError):
    """A replay must name what to replay: ids or at least one filter."""


@dataclass(frozen=True)
class ReplayFilter:
    ids: tuple[int, ...] = ()
    status: str | None = None
    source: str | None = None
    #: Received on or after / before.
    since: datetime | None = None
    until: datetime | None = None

    def check(self) -> None:
        if not (self.ids or self.status or self.source or self.since or self.until):
            raise NothingNamed("name the webhooks to replay: ids, a status, a source or dates")
        if self.status and self.status not in REPLAYABLE:
            raise ValueError(f"status must be one of {', '.join(REPLAYABLE)}")


@dataclass(frozen=True)
class Candidate:
    id: int
    source: str
    topic: str
    status: str
    received_at: datetime
    last_error: str | None


@dataclass(frozen=True)
class ReplayReport:
    #: How many webhooks were (or, dry, would be) replayed.
    count: int
    #: The first of them, for a report.
    ids: tuple[int, ...]
    dry_run: bool


def _where(filters: ReplayFilter) -> list:
    clauses = [Inbox.status.in_([filters.status] if filters.status else REPLAYABLE)]
    if filters.ids:
        clauses.append(Inbox.id.in_(filters.ids))
    if filters.source:
        clauses.append(Inbox.source == filters.source)
    if filters.since:
        clauses.append(Inbox.received_at >= filters.since)
    if filters.until:
        clauses.append(Inbox.received_at < filters.until)
    return clauses


def count(session: Session, filters: ReplayFilter) -> int:
    return session.scalar(select(func.count()).select_from(Inbox).where(*_where(filters))) or 0


def candidates(
    session: Session, filters: ReplayFilter, after_id: int = 0, limit: int = CHUNK
) -> list[Candidate]:
    """The webhooks a filter names, oldest first, after `after_id`."""
    query = (
        select(
            Inbox.id,
            Inbox.source,
            Inbox.topic,
            Inbox.status,
            Inbox.received_at,
            Inbox.last_error,
        )
        .where(*_where(filters), Inbox.id > after_id)
        .order_by(Inbox.id)
        .limit(limit)
    )
    return [Candidate(*row) for row in session.execute(query)]


def mark_for_replay(session: Session, ids: list[int]) -> list[int]:
    """Give these rows a fresh start: pending (a parked one stays parked, still waiting for
    its parcel, but is looked at again), no attempts, no error."""
    query = (
        update(Inbox)
        .where(Inbox.id.in_(ids), Inbox.status.in_(REPLAYABLE))
        .values(
            status=case(
                (Inbox.status == InboxStatus.PARKED, InboxStatus.PARKED),
                else_=InboxStatus.PENDING,
            ),
            attempts=0,
            last_error=None,
            processed_at=None,
            touched_at=datetime.now(UTC),
        )
        .returning(Inbox.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(session.scalars(query))


def replay(
    sessions: sessionmaker[Session],
    filters: ReplayFilter,
    enqueue: Callable[[list[int]], None],
    *,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayReport:
    """Replay what `filters` names, a chunk per transaction; `progress(done, total)` after
    each chunk. Dry, only count and list."""
    filters.check()
    with sessions() as session:
        total = count(session, filters)
    done, last_id, first = 0, 0, []
    while True:
        with sessions.begin() as session:
            chunk = [c.id for c in candidates(session, filters, last_id)]
            if not chunk:
                break
            last_id = chunk[-1]
            marked = chunk if dry_run else mark_for_replay(session, chunk)
        if marked and not dry_run:
            enqueue(marked)
        done += len(marked)
        first += marked[: max(0, 20 - len(first))]
        if progress:
            progress(done, max(total, done))
    return ReplayReport(done, tuple(first), dry_run)
