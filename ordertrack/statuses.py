"""The canonical statuses, their progress order and what each tells a customer.

Every provider maps its own codes onto these (docs/design.md, "The canonical model"). Stages put
the main line and its detours on one scale: a detour sits at the stage where it happens, which
is what "never stale" and "least advanced shipment" compare.
"""

from enum import StrEnum


class OrderStatus(StrEnum):
    RECEIVED = "received"
    PROCESSING = "processing"
    ON_HOLD = "on_hold"
    SHIPPED = "shipped"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERY_FAILED = "delivery_failed"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    EXCEPTION = "exception"
    DELIVERED = "delivered"
    RETURNED = "returned"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class ShipmentStatus(StrEnum):
    #: A code the provider's table does not know: stored with its raw code, never applied.
    UNKNOWN = "unknown"
    LABEL_CREATED = "label_created"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERY_FAILED = "delivery_failed"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    EXCEPTION = "exception"
    DELIVERED = "delivered"
    RETURNED = "returned"
    CANCELLED = "cancelled"


STAGE: dict[str, int] = {
    OrderStatus.RECEIVED: 0,
    OrderStatus.PROCESSING: 1,
    OrderStatus.ON_HOLD: 1,
    OrderStatus.SHIPPED: 2,
    ShipmentStatus.LABEL_CREATED: 2,
    OrderStatus.IN_TRANSIT: 3,
    OrderStatus.EXCEPTION: 3,  # a delay or customs hold happens on the way
    OrderStatus.OUT_FOR_DELIVERY: 4,
    OrderStatus.DELIVERY_FAILED: 4,  # an attempt is made at the door
    OrderStatus.AVAILABLE_FOR_PICKUP: 4,  # the last leg ends at a counter instead
    OrderStatus.DELIVERED: 5,
    OrderStatus.RETURNED: 5,  # the parcel's journey is over, just not at the customer
    OrderStatus.COMPLETED: 6,
    OrderStatus.CANCELLED: 7,
    OrderStatus.REFUNDED: 7,
}

#: Shipment statuses that need the customer's attention: an order shows these first.
ATTENTION = (
    ShipmentStatus.EXCEPTION,
    ShipmentStatus.DELIVERY_FAILED,
    ShipmentStatus.RETURNED,
    ShipmentStatus.AVAILABLE_FOR_PICKUP,
)

#: Order statuses that only the platform can set, and after which carriers no longer matter.
FINAL_ORDER_STATUSES = (OrderStatus.CANCELLED, OrderStatus.REFUNDED)


def stage(status: str) -> int:
    return STAGE[status]


def order_status_for_shipment(status: ShipmentStatus) -> OrderStatus:
    """What an order reads as when this shipment is its least advanced one."""
    if status is ShipmentStatus.LABEL_CREATED:
        return OrderStatus.SHIPPED
    return OrderStatus(status.value)
