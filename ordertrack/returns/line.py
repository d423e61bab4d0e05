"""A return's own line, pure: which moves are legal, who may make them, and whether an order
is still inside its return window. Knows nothing of HTTP or SQL.

    requested -> approved | rejected;  approved -> in_transit -> received -> refunded
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ordertrack.errors import OrdertrackError


class ReturnStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    REFUNDED = "refunded"


class MovedBy(StrEnum):
    """Who moved a return to a step (a return event's `actor`); not a Dramatiq actor."""

    CUSTOMER = "customer"
    MERCHANT = "merchant"
    PLATFORM = "platform"
    CARRIER = "carrier"


S = ReturnStatus

#: Every legal move, from -> the statuses it may go to. Rejected and refunded are the ends.
TRANSITIONS: dict[ReturnStatus, frozenset[ReturnStatus]] = {
    S.REQUESTED: frozenset(
        {
            S.APPROVED,  # the merchant accepts the request
            S.REJECTED,  # the merchant refuses it, with a note the customer reads
        }
    ),
    S.APPROVED: frozenset(
        {
            S.IN_TRANSIT,  # a return tracking number is attached
            S.RECEIVED,  # handed in at the shop's counter: no parcel, no tracking number
            S.REFUNDED,  # refunded on the platform without waiting for the items
        }
    ),
    S.IN_TRANSIT: frozenset(
        {
            S.IN_TRANSIT,  # a corrected tracking number (or carrier) replaces the first one
            S.RECEIVED,  # the merchant unpacked it, or the carrier delivered it to the shop
            S.REFUNDED,  # refunded on the drop-off scan, before it arrives
        }
    ),
    S.RECEIVED: frozenset({S.REFUNDED}),  # the money goes back
    S.REJECTED: frozenset(),
    S.REFUNDED: frozenset(),
}

#: Statuses in which a return still holds its items (a rejected one gives them back).
HOLDS_ITEMS = frozenset(set(S) - {S.REJECTED})

#: What the customer reads for each status.
STATUS_WORDS: dict[ReturnStatus, str] = {
    S.REQUESTED: "Requested: the shop will look at it soon",
    S.APPROVED: "Approved: please send the items back",
    S.REJECTED: "Not accepted",
    S.IN_TRANSIT: "On its way back to the shop",
    S.RECEIVED: "Received by the shop",
    S.REFUNDED: "Refunded",
}

#: The reasons a customer may give, in the order the form lists them, with their labels.
REASONS: dict[str, str] = {
    "damaged": "It arrived damaged",
    "wrong_item": "I received the wrong item",
    "not_as_described": "It is not as described",
    "no_longer_needed": "I no longer need it",
    "too_late": "It arrived too late",
    "other": "Another reason",
}

COMMENT_MAX = 1000


class IllegalTransition(OrdertrackError):
    """A return cannot make this move from where it stands."""

    status_code = 409


def check(current: str, target: str) -> ReturnStatus:
    """The target status, if the line allows it from `current`; else IllegalTransition."""
    here, there = ReturnStatus(current), ReturnStatus(target)
    if there not in TRANSITIONS[here]:
        raise IllegalTransition(
            f"a return that is {here} cannot become {there}",
            {"current_status": str(here), "requested_status": str(there)},
        )
    return there


def allowed(current: str, target: str) -> bool:
    return ReturnStatus(target) in TRANSITIONS[ReturnStatus(current)]


@dataclass(frozen=True)
class Window:
    """Whether a return may be requested now, and if not, why (in the customer's words)."""

    open: bool
    reason: str | None = None
    closes_at: datetime | None = None


#: Order statuses that count as delivered for returns ("completed" comes after delivery).
_DELIVERED = ("delivered", "completed")
_WHY_NOT = {
    "cancelled": "This order was cancelled, so there is nothing to return.",
    "refunded": "This order has already been refunded.",
    "returned": "Your parcel went back to the shop before it reached you, so there is "
    "nothing to return.",
}
_NOT_YET = "Returns open once your order has been delivered."


def window(order_status: str, delivered_at: datetime | None, now: datetime, days: int) -> Window:
    """Open from delivery until `days` later, that last instant included."""
    if order_status not in _DELIVERED or delivered_at is None:
        return Window(False, _WHY_NOT.get(order_status, _NOT_YET))
    closes_at = delivered_at + timedelta(days=days)
    if now > closes_at:
        when = f"{closes_at:%d %B %Y}".lstrip("0")
        why = f"The return window of {days} days after delivery closed on {when}."
        return Window(False, why, closes_at)
    return Window(True, None, closes_at)
