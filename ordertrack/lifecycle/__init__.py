"""Pure rules: (current state, facts) -> new state + transitions. `apply` is the entry.

Every rule is a "newest fact wins" comparison, so applying facts is commutative and idempotent:
any permutation of a story's events, with any duplicates, converges on one state. The order's
status is then derived from the platform's latest word and its shipments, never accumulated.

One module per job:
    state.py         the model: OrderState, ShipmentState, Transition
    precedence.py    which fact wins, each fact against the state; the table is its docstring
    relabelling.py   a tracking number the platform replaced, and the news of it
    order_status.py  the order's status, derived from the platform and its live parcels
    matching.py      which parcel a carrier report is about (claims, best_claim, shipment_key)
    wording.py       words for people ("1 of 2 delivered")
docs/lifecycle.md has the table, the statuses in progress order and the matching rules.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace

from ordertrack.facts import Fact, FulfillmentFact, OrderFact, RefundFact, TrackingFact
from ordertrack.lifecycle.matching import (
    LABEL_LEAD,
    TRACKING_NUMBER_REUSE,
    Labelled,
    best_claim,
    claims,
    shipment_key,
)
from ordertrack.lifecycle.order_status import derive_status, items_not_shipped
from ordertrack.lifecycle.precedence import (
    apply_fulfillment,
    apply_order,
    apply_tracking,
    unlisted_removed,
)
from ordertrack.lifecycle.relabelling import replaced_tracking_numbers
from ordertrack.lifecycle.state import ONE_ATTEMPT, OrderState, ShipmentState, Transition
from ordertrack.lifecycle.wording import progress_summary
from ordertrack.statuses import stage

#: The names callers used from the one-module lifecycle: `apply` and `Outcome` live here, the
#: rest in the modules above (new code imports them from there).
__all__ = [
    "LABEL_LEAD",
    "ONE_ATTEMPT",
    "TRACKING_NUMBER_REUSE",
    "Labelled",
    "OrderState",
    "Outcome",
    "ShipmentState",
    "Transition",
    "apply",
    "apply_fulfillment",
    "apply_order",
    "apply_tracking",
    "best_claim",
    "claims",
    "derive_status",
    "items_not_shipped",
    "progress_summary",
    "replaced_tracking_numbers",
    "shipment_key",
]


@dataclass(frozen=True)
class Outcome:
    """What `apply` returns: the new state, the move (None when the status stayed put) and
    the carrier events that wait for their parcel."""

    state: OrderState
    transition: Transition | None
    #: Carrier events naming a tracking number no shipment of this order has (yet).
    parked: tuple[TrackingFact, ...] = ()


def _upsert(
    state: OrderState, key: str, update: Callable[[ShipmentState], ShipmentState]
) -> OrderState:
    """Update a shipment in place (a new one goes last), so a repeated fact is a no-op."""
    if state.shipment(key) is None:
        return replace(state, shipments=(*state.shipments, update(ShipmentState(key=key))))
    return replace(
        state, shipments=tuple(update(s) if s.key == key else s for s in state.shipments)
    )


def _apply_one(state: OrderState, fact: Fact) -> OrderState | None:
    if isinstance(fact, OrderFact):
        return apply_order(state, fact)
    if isinstance(fact, RefundFact):
        return state  # moves returns, not the order (see the pipeline)
    key = shipment_key(state, fact)
    if key is None:
        return None
    if isinstance(fact, FulfillmentFact):
        return _upsert(state, key, lambda s: apply_fulfillment(s, fact))
    return _upsert(state, key, lambda s: apply_tracking(s, fact))


def apply(state: OrderState, facts: list[Fact]) -> Outcome:
    """Apply facts, derive the order's status, and say whether it moved. Fulfillments go
    first so a carrier event in the same batch finds the shipment they create."""
    before = state
    parked: list[TrackingFact] = []
    for fact in sorted(facts, key=lambda f: isinstance(f, TrackingFact)):
        applied = _apply_one(state, fact)
        if applied is None:
            parked.append(fact)  # only a carrier event can fail to find its shipment
        else:
            state = unlisted_removed(applied)
    status = derive_status(state)
    state = replace(state, status=status, furthest_stage=max(before.furthest_stage, stage(status)))
    moved = (
        None
        if status is before.status
        else Transition(before.status, status, before.furthest_stage)
    )
    return Outcome(state, moved, tuple(parked))
