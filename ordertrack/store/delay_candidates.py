"""The orders the delay check evaluates, and what it reads of them.

Most open orders are not late, and evaluating each in Python is what made the check slow.
So `order_ids` narrows in one set-based statement, from the cutoffs delays.cutoffs computed
once per check: the orders with a parcel or a start that may be past its deadline, and the
orders that hold an open flag (it may have to clear). The rules in delays.py then decide for
each of them; the SQL never decides, it only leaves out orders the rules cannot flag.

What the check reads of them, and how it locks the few it changes: store/delay_rows.py.
"""

from sqlalchemy import and_, func, or_, select, union
from sqlalchemy.orm import Session

from ordertrack.delays import Cutoffs
from ordertrack.statuses import OrderStatus, ShipmentStatus
from ordertrack.store.flag_models import DelayFlag
from ordertrack.store.models import Order, Shipment

_S = ShipmentStatus
#: A parcel whose journey is over: it can be late for nothing.
_ARRIVED = [s.value for s in (_S.DELIVERED, _S.RETURNED, _S.CANCELLED)]
#: Orders that can be late for not shipping.
_UNSHIPPED = [OrderStatus.RECEIVED.value, OrderStatus.PROCESSING.value]


def order_ids(session: Session, limits: Cutoffs) -> list[int]:
    """Every order that may need a flag now, or holds one, by id (one statement)."""
    s = Shipment
    under_way = s.status.not_in(_ARRIVED)
    late = [
        and_(
            s.status == _S.LABEL_CREATED.value,
            s.tracking_number.is_not(None),
            func.coalesce(s.labelled_at, s.fulfilled_at) < limits.labelled,
        ),
        and_(s.status == _S.IN_TRANSIT.value, s.status_at < limits.moved),
        and_(
            s.status.in_([_S.EXCEPTION.value, _S.DELIVERY_FAILED.value]),
            s.status_at < limits.stuck,
        ),
        and_(s.status == _S.AVAILABLE_FOR_PICKUP.value, s.status_at <= limits.pickup),
        and_(under_way, s.est_delivery < limits.estimate_day),
    ]
    if limits.scanned is not None:
        late.append(
            and_(
                under_way,
                s.est_delivery.is_(None),
                s.carrier.is_not(None),
                s.first_scan_at < limits.scanned,
            )
        )
    parcels = select(s.order_id).where(s.cancelled.is_(False), s.removed.is_(False), or_(*late))
    unshipped = select(Order.id).where(
        Order.status.in_(_UNSHIPPED),
        func.coalesce(Order.placed_at, Order.created_at) < limits.placed,
    )
    flagged = select(DelayFlag.order_id).where(DelayFlag.cleared_at.is_(None))
    found = session.connection().execute(union(parcels, unshipped, flagged))
    return sorted(found.scalars())
