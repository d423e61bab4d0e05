"""How far along an order is, derived afresh from the platform's word and its live parcels.

Derived, never accumulated: the order's status follows from the state whatever order the facts
came in, which is what keeps applying facts commutative.
"""

from ordertrack.lifecycle.state import OrderState
from ordertrack.statuses import (
    ATTENTION,
    FINAL_ORDER_STATUSES,
    OrderStatus,
    order_status_for_shipment,
    stage,
)


def derive_status(state: OrderState) -> OrderStatus:
    """The order is as far along as its least advanced live shipment; trouble shows first."""
    if state.platform_status in FINAL_ORDER_STATUSES:
        return state.platform_status
    live = [s for s in state.shipments if s.live]
    if not live:
        return state.platform_status
    for trouble in ATTENTION:
        if any(s.status is trouble for s in live):
            return order_status_for_shipment(trouble)
    least = min(live, key=lambda s: stage(s.status))
    status = order_status_for_shipment(least.status)
    if stage(status) >= stage(OrderStatus.DELIVERED) and items_not_shipped(state):
        # Every parcel so far has arrived, but not every item has left: partly shipped.
        return OrderStatus.SHIPPED
    if status is OrderStatus.DELIVERED and state.platform_status is OrderStatus.COMPLETED:
        return OrderStatus.COMPLETED
    return status


def items_not_shipped(state: OrderState) -> int:
    """How many ordered items no live parcel carries; 0 when the platform did not say which
    items each parcel holds (then parcels are all we know)."""
    live = [s for s in state.shipments if s.live]
    if not state.items or not live or not all(s.items for s in live):
        return 0
    shipped: dict[str, int] = {}
    for shipment in live:
        for item in shipment.items:
            shipped[item.external_id] = shipped.get(item.external_id, 0) + item.quantity
    return sum(max(0, i.quantity - shipped.get(i.external_id, 0)) for i in state.items)
