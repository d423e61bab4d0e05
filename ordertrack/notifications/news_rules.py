"""Which status tells the customer what, and when a message has gone stale.

Read this file to know what a customer will receive. A parcel's news (shipped, out for
delivery, delivered, a failed attempt, an exception, ready for pickup, returned to sender) is
per parcel; the order's own news (cancelled, refunded, on hold) is per order. At most one of
each kind per (parcel, channel, recipient), ever, enforced by the outbox's unique key.
"""

import hashlib
from typing import Protocol

from ordertrack.statuses import FINAL_ORDER_STATUSES, OrderStatus, ShipmentStatus, stage

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

#: A parcel's status -> the news it is. In transit is still "shipped" news.
PARCEL_KIND_FOR_STATUS: dict[ShipmentStatus, str] = {
    ShipmentStatus.LABEL_CREATED: "shipped",
    ShipmentStatus.IN_TRANSIT: "shipped",
    ShipmentStatus.OUT_FOR_DELIVERY: "out_for_delivery",
    ShipmentStatus.DELIVERY_FAILED: "delivery_failed",
    ShipmentStatus.EXCEPTION: "exception",
    ShipmentStatus.AVAILABLE_FOR_PICKUP: "available_for_pickup",
    ShipmentStatus.DELIVERED: "delivered",
    ShipmentStatus.RETURNED: "returned_to_sender",
}
#: The second and every later failed attempt: each is news ("delivery_failed_again:3").
DELIVERY_FAILED_AGAIN = "delivery_failed_again"
PARCEL_KINDS = frozenset({*PARCEL_KIND_FOR_STATUS.values(), DELIVERY_FAILED_AGAIN})

#: The order's own news, which only the platform can make: per order, not per parcel.
ORDER_KIND_FOR_STATUS: dict[OrderStatus, str] = {
    OrderStatus.CANCELLED: "order_cancelled",
    OrderStatus.REFUNDED: "order_refunded",
    OrderStatus.ON_HOLD: "order_on_hold",
}
ORDER_KINDS = frozenset(ORDER_KIND_FOR_STATUS.values())
#: Not told when the refund was a return's: the customer hears "return refunded" instead.
ORDER_REFUNDED = ORDER_KIND_FOR_STATUS[OrderStatus.REFUNDED]


#: The furthest stage of a parcel at which each of its kinds is still news: a parcel that has
#: been out for delivery hears no "shipped" again when a failed attempt puts it back in
#: transit. Detours stay news up to the door.
PARCEL_KIND_STAGE: dict[str, int] = {
    "shipped": stage(ShipmentStatus.IN_TRANSIT),
    "exception": stage(ShipmentStatus.OUT_FOR_DELIVERY),
    "out_for_delivery": stage(ShipmentStatus.OUT_FOR_DELIVERY),
    "delivery_failed": stage(ShipmentStatus.DELIVERY_FAILED),
    DELIVERY_FAILED_AGAIN: stage(ShipmentStatus.DELIVERY_FAILED),
    "available_for_pickup": stage(ShipmentStatus.AVAILABLE_FOR_PICKUP),
    "delivered": stage(ShipmentStatus.DELIVERED),
    "returned_to_sender": stage(ShipmentStatus.RETURNED),
}


class Parcel(Protocol):
    """What the policy reads of a parcel (lifecycle.state.ShipmentState)."""

    key: str
    tracking_number: str | None
    status: ShipmentStatus
    furthest_stage: int
    relabels: int
    live: bool

    @property
    def attempt(self) -> int: ...


class Parcels(Protocol):
    """What the policy reads of an order (lifecycle.state.OrderState)."""

    def shipment(self, key: str) -> Parcel | None: ...


def parcel_ref(parcel: Parcel) -> str:
    """How the outbox names a parcel: its key, and after its tracking number was replaced,
    which number it is on ("f:123#1"), so the new number's news is told afresh (the old
    number's scans may have been somebody else's parcel)."""
    return f"{parcel.key}#{parcel.relabels}" if parcel.relabels else parcel.key


def parcel_key(ref: str) -> str:
    """The shipment key a parcel reference names."""
    key, _, relabels = ref.rpartition("#")
    return key if key and relabels.isdigit() else ref


def find_parcel(order: Parcels, ref: str) -> Parcel | None:
    """The parcel a reference names, while it still has the number it named."""
    parcel = order.shipment(parcel_key(ref))
    return parcel if parcel is not None and parcel_ref(parcel) == ref else None


def parcel_kind(parcel: Parcel) -> str | None:
    """The news a live parcel's status is, or None (cancelled, removed, unknown). A second and
    later failed attempt carries its number, so each attempt is told once."""
    if not parcel.live:
        return None
    if parcel.attempt > 1:
        return f"{DELIVERY_FAILED_AGAIN}:{parcel.attempt}"
    return PARCEL_KIND_FOR_STATUS.get(parcel.status)


def parcel_news(before: Parcel | None, after: Parcel) -> str | None:
    """The news a parcel's move is: its new status's kind, unless its reports had already gone
    further than that kind is news for."""
    kind = parcel_kind(after)
    furthest = before.furthest_stage if before else 0
    if kind is None or PARCEL_KIND_STAGE[base_kind(kind)] < furthest:
        return None
    return kind


def parcel_news_is_stale(kind: str, order_status: OrderStatus, parcel: Parcel | None) -> bool:
    """True when a parcel's news is no longer what the parcel's status says: it moved on (one
    message about the latest), moved back, was cancelled or renumbered, or the order was."""
    if order_status in FINAL_ORDER_STATUSES or parcel is None:
        return True
    return parcel_kind(parcel) != kind


def order_kind(status: OrderStatus) -> str | None:
    return ORDER_KIND_FOR_STATUS.get(status)


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


#: A delay flag the customer hears of: "delayed:<flag id>", once per delay (a flag that
#: clears and is raised again later is a new delay).
DELAYED = "delayed"


def delayed_kind(flag_id: int) -> str:
    return f"{DELAYED}:{flag_id}"


def delay_is_stale(order: Parcels, parcel: str) -> bool:
    """Never after delivery: a parcel's delay is moot once it arrived (or went back, or was
    cancelled or renumbered); the order's own (not shipped) once the order shipped or ended."""
    status = getattr(order, "status", None)
    if status in FINAL_ORDER_STATUSES or (status and stage(status) >= stage(OrderStatus.DELIVERED)):
        return True
    if not parcel:
        return bool(status and stage(status) >= stage(OrderStatus.SHIPPED))
    shipment = find_parcel(order, parcel)
    arrived = (ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED)
    return shipment is None or not shipment.live or shipment.status in arrived


def base_kind(kind: str) -> str:
    """The kind without what makes it unique: what picks the template and the staleness rule."""
    return kind.partition(":")[0]


def is_stale(kind: str, current: OrderStatus) -> bool:
    """True when sending now would tell the customer something that is no longer true: the
    order has moved past it, or back before it, or out of the detour it announces."""
    if base_kind(kind) in RETURN_KINDS:  # a return's step stays true whatever the order does
        return False
    if kind in ORDER_KINDS:
        return order_kind(current) != kind
    if current in FINAL_ORDER_STATUSES:
        return True
    if base_kind(kind) == TRACKING_CHANGED:  # moot once the order has arrived
        return stage(current) >= stage(OrderStatus.DELIVERED)
    if not KIND_FIRST_STAGE[kind] <= stage(current) <= KIND_STAGE[kind]:
        return True
    return kind in DETOUR_KINDS and KIND_FOR_STATUS.get(current) != kind
