"""Which status tells the customer what, and when a message has gone stale.

Read this file to know what a customer will receive. Kinds are per order: at most one of each
kind per (channel, recipient), ever, enforced by the outbox's unique key.
"""

import hashlib

from ordertrack.statuses import FINAL_ORDER_STATUSES, OrderStatus, stage

#: Order status -> the notification kind it announces. In transit is still "shipped" news.
KIND_FOR_STATUS: dict[OrderStatus, str] = {
    OrderStatus.SHIPPED: "shipped",
    OrderStatus.IN_TRANSIT: "shipped",
    OrderStatus.OUT_FOR_DELIVERY: "out_for_delivery",
    OrderStatus.DELIVERY_FAILED: "delivery_failed",
    OrderStatus.EXCEPTION: "exception",
    OrderStatus.AVAILABLE_FOR_PICKUP: "available_for_pickup",
    OrderStatus.DELIVERED: "delivered",
}

#: The furthest stage at which each kind is still news. "Delivered" stays news when the
#: merchant completes the order a moment later.
KIND_STAGE: dict[str, int] = {
    "shipped": stage(OrderStatus.IN_TRANSIT),
    "exception": stage(OrderStatus.OUT_FOR_DELIVERY),
    "out_for_delivery": stage(OrderStatus.OUT_FOR_DELIVERY),
    "delivery_failed": stage(OrderStatus.OUT_FOR_DELIVERY),
    "available_for_pickup": stage(OrderStatus.OUT_FOR_DELIVERY),
    "delivered": stage(OrderStatus.COMPLETED),
}

#: Detours are only worth telling while they are still true.
DETOUR_KINDS = {"exception", "delivery_failed", "available_for_pickup"}

CHANNELS = ("email",)


def announced_status(status: OrderStatus, has_parcels: bool) -> OrderStatus:
    """What a status means to the customer. A completed order whose parcels have arrived was
    just delivered (the merchant had completed it before the carrier's last scan); one without
    parcels is the merchant closing it, which is no news."""
    if status is OrderStatus.COMPLETED and has_parcels:
        return OrderStatus.DELIVERED
    return status


def kind_to_announce(status: OrderStatus, furthest_stage_before: int) -> str | None:
    """The kind a move to `status` announces, unless the order had already gone further."""
    kind = KIND_FOR_STATUS.get(status)
    if kind is None or KIND_STAGE[kind] < furthest_stage_before:
        return None
    return kind


#: The earliest stage at which each kind is true: an order that moved back below it (a parcel
#: nobody knew of turned up) must not hear "delivered" yet.
KIND_FIRST_STAGE: dict[str, int] = {
    kind: min(stage(status) for status, k in KIND_FOR_STATUS.items() if k == kind)
    for kind in KIND_STAGE
}


#: A shipment's tracking number was replaced. The kind carries a digest of the new number,
#: so the outbox's once-only key tells each replacement once.
TRACKING_CHANGED = "tracking_changed"


def tracking_changed_kind(new_number: str) -> str:
    digest = hashlib.blake2b(new_number.encode(), digest_size=6).hexdigest()
    return f"{TRACKING_CHANGED}:{digest}"


#: The return line's news for the customer: one message per return and step (the kind
#: carries the return's id, so a second return on the same order is told too).
RETURN_STEPS = {
    "requested": "return_requested",
    "approved": "return_approved",
    "rejected": "return_rejected",
    "received": "return_received",
    "refunded": "return_refunded",
}
RETURN_KINDS = frozenset(RETURN_STEPS.values())


def return_kind(status: str, return_id: int) -> str | None:
    """The kind a return's move to `status` announces, or None (in transit is no news)."""
    kind = RETURN_STEPS.get(status)
    return f"{kind}:{return_id}" if kind else None


def base_kind(kind: str) -> str:
    """The kind without what makes it unique: what picks the template and the staleness rule."""
    return kind.partition(":")[0]


def is_stale(kind: str, current: OrderStatus) -> bool:
    """True when sending now would tell the customer something that is no longer true: the
    order has moved past it, or back before it, or out of the detour it announces."""
    if base_kind(kind) in RETURN_KINDS:  # a return's step stays true whatever the order does
        return False
    if current in FINAL_ORDER_STATUSES:
        return True
    if base_kind(kind) == TRACKING_CHANGED:  # moot once the order has arrived
        return stage(current) >= stage(OrderStatus.DELIVERED)
    if not KIND_FIRST_STAGE[kind] <= stage(current) <= KIND_STAGE[kind]:
        return True
    return kind in DETOUR_KINDS and KIND_FOR_STATUS.get(current) != kind
