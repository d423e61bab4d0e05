"""Moving a return along its line at the merchant's word: one use case for the API and the
console. It locks the return, checks the line allows the step, records it with the note,
and queues the customer's news in the same transaction; the caller sends what it returns
after the commit."""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from ordertrack.notifications import outbox
from ordertrack.returns import line
from ordertrack.returns.line import MovedBy, ReturnStatus
from ordertrack.store import returns
from ordertrack.store.models import Order
from ordertrack.store.return_models import Return


class NoSuchReturn(LookupError):
    """No return has this id."""


class StepNotAllowed(ValueError):
    """The line does not allow this step from where the return stands."""

    def __init__(self, return_id: int, current: str, target: str) -> None:
        super().__init__(f"return {return_id} is {current}; it cannot become {target}")
        self.current, self.target = current, target


@dataclass(frozen=True)
class Moved:
    row: Return
    order: Order
    #: The customer's news of the step, to send after the commit.
    news: list[outbox.AddedRow]


def move_by_merchant(
    session: Session,
    return_id: int,
    target: ReturnStatus,
    plan: outbox.Plan,
    *,
    note: str | None = None,
    tracking: tuple[str, str] | None = None,
) -> Moved:
    row = returns.get(session, return_id, lock=True)
    if row is None:
        raise NoSuchReturn(f"no return {return_id}")
    if not line.allowed(row.status, target):
        raise StepNotAllowed(return_id, row.status, str(target))
    if tracking:
        row.tracking_number, row.carrier = tracking
    returns.move(session, row, target, MovedBy.MERCHANT, datetime.now(UTC), note or None)
    order = session.get(Order, row.order_id)
    news = outbox.add_return_news(session, order, row.id, target, plan)
    return Moved(row, order, news)


def next_steps(status: str) -> list[ReturnStatus]:
    """The steps a merchant may take from here, in the line's order."""
    return [step for step in ReturnStatus if line.allowed(status, step)]
