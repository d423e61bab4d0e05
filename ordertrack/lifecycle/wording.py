"""Words for people: how the lifecycle's state reads to a customer or a merchant.

Kept apart from the rules so that changing a sentence cannot change a state.
`notifications.messages` says the same in the customer's language, from the same numbers.
"""

from ordertrack.lifecycle.order_status import items_not_shipped
from ordertrack.lifecycle.state import OrderState
from ordertrack.statuses import ShipmentStatus


def progress_summary(state: OrderState) -> str | None:
    """'1 of 2 delivered' while an order's parcels arrive apart."""
    live = [s for s in state.shipments if s.live]
    waiting = items_not_shipped(state)
    if len(live) < 2 and not waiting:
        return None
    delivered = sum(s.status is ShipmentStatus.DELIVERED for s in live)
    summary = f"{delivered} of {len(live)} delivered"
    if waiting:
        summary += f", {waiting} item{'s' if waiting > 1 else ''} not shipped yet"
    return summary
