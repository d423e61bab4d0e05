"""What the tracking page says about each status, in words a customer understands: never a
code, and never "pending" for something unusual."""

from ordertrack.statuses import OrderStatus, ShipmentStatus

#: The order's status: a headline and what it means for the customer.
STATUS_WORDS: dict[OrderStatus, tuple[str, str]] = {
    OrderStatus.RECEIVED: ("Order received", "We have your order and will start on it soon."),
    OrderStatus.PROCESSING: ("Being prepared", "We are getting your order ready to ship."),
    OrderStatus.ON_HOLD: (
        "On hold",
        "Your order is on hold for now. The shop will contact you if anything is needed.",
    ),
    OrderStatus.SHIPPED: ("Shipped", "Your order has left us and is with the carrier."),
    OrderStatus.IN_TRANSIT: ("On its way", "Your parcel is on its way to you."),
    OrderStatus.OUT_FOR_DELIVERY: (
        "Out for delivery today",
        "The carrier expects to deliver your parcel today.",
    ),
    OrderStatus.DELIVERY_FAILED: (
        "Delivery attempt failed",
        "The carrier tried to deliver your parcel but could not. They usually try again or "
        "leave a note saying what to do next; the carrier's tracking page has the details.",
    ),
    OrderStatus.AVAILABLE_FOR_PICKUP: (
        "Ready for pickup",
        "Your parcel is waiting for you at a pickup point. The carrier's tracking page says "
        "where, and until when.",
    ),
    OrderStatus.EXCEPTION: (
        "Delayed",
        "The carrier reported a delay or a problem with your parcel. Most are resolved "
        "without you doing anything; the carrier's tracking page has the details.",
    ),
    OrderStatus.DELIVERED: ("Delivered", "Your order has been delivered."),
    OrderStatus.RETURNED: (
        "Returned to sender",
        "The parcel is going back to the shop, or is already there. The shop will contact you.",
    ),
    OrderStatus.COMPLETED: ("Completed", "Your order is complete. Thank you!"),
    OrderStatus.CANCELLED: ("Cancelled", "This order was cancelled."),
    OrderStatus.REFUNDED: ("Refunded", "This order was refunded."),
}

SHIPMENT_WORDS: dict[ShipmentStatus, str] = {
    ShipmentStatus.UNKNOWN: "Update from the carrier",
    ShipmentStatus.LABEL_CREATED: "Label created, waiting for the carrier",
    ShipmentStatus.IN_TRANSIT: "On its way",
    ShipmentStatus.OUT_FOR_DELIVERY: "Out for delivery",
    ShipmentStatus.DELIVERY_FAILED: "The carrier tried to deliver it but could not",
    ShipmentStatus.AVAILABLE_FOR_PICKUP: "Ready for pickup",
    ShipmentStatus.EXCEPTION: "Delayed: the carrier reported a problem",
    ShipmentStatus.DELIVERED: "Delivered",
    ShipmentStatus.RETURNED: "Returned to sender",
    ShipmentStatus.CANCELLED: "Cancelled",
}

#: Timeline words for what the platform said about the order (kind "order").
ORDER_EVENT_WORDS: dict[str, str] = {
    "received": "Order placed",
    "processing": "Order confirmed and being prepared",
    "on_hold": "Order put on hold",
    "completed": "Order completed",
    "cancelled": "Order cancelled",
    "refunded": "Order refunded",
}
#: ... about a parcel leaving (kind "fulfillment").
FULFILLMENT_WORDS = {"fulfilled": "Shipped", "cancelled": "A parcel was cancelled"}
