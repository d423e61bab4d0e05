"""The customer's tracking page: reading what it shows (`read_view`) and finding an order by
what the customer knows of it (`find_order_id`). The words and layout of the page are in
`page` (pure); the HTTP edge is service/tracking.py."""

import hmac
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ordertrack.business_days import Calendar
from ordertrack.notifications.timezones import customer_timezone
from ordertrack.store import estimates
from ordertrack.store.models import History, Order
from ordertrack.store.orders import to_state
from ordertrack.tracking_page.page import HistoryEntry, TrackingView, build

#: The longest order number a customer could type (the column's width).
MAX_ORDER_NUMBER = 64


def read_view(
    session: Session,
    order_id: int,
    shop_timezone: str,
    now: datetime | None = None,
    calendar: Calendar | None = None,
) -> TrackingView | None:
    """The page of one order; `calendar` (the shop's business days) dates learned estimates."""
    query = select(Order).where(Order.id == order_id).options(selectinload(Order.shipments))
    order = session.scalars(query).one_or_none()
    if order is None:
        return None
    now = now or datetime.now(UTC)
    state = to_state(order)
    zone = customer_timezone(order.country_code, order.province_code, shop_timezone)
    today = now.astimezone(zone).date()
    book = estimates.Book(calendar or Calendar(zone=ZoneInfo(shop_timezone)), now)
    return build(
        state,
        _history(session, order_id),
        zone=zone,
        updated_at=order.updated_at,
        today=today,
        learned=book.for_order(session, order, state.shipments, today=today),
    )


def _history(session: Session, order_id: int) -> list[HistoryEntry]:
    query = select(History.occurred_at, History.kind, History.status, History.shipment_key).where(
        History.order_id == order_id
    )
    return [HistoryEntry(*row) for row in session.execute(query)]


def updated_at(session: Session, order_id: int) -> datetime | None:
    """One cheap query: what the live page watches."""
    return session.scalar(select(Order.updated_at).where(Order.id == order_id))


def normalized_order_number(text: str) -> str:
    return text.strip().removeprefix("#").strip()


def order_number_key(text: str) -> str:
    """One order number, however it is spelt ("#1042", " 1042 "): what the look-up's limit per
    order number counts. "" when the text could name no order."""
    number = normalized_order_number(text)
    return number.casefold() if len(number) <= MAX_ORDER_NUMBER else ""


def find_order_id(session: Session, order_number: str, email: str) -> int | None:
    """The order with this number ("#1042" or "1042") and this email address (any case) or
    shipping postcode (any case and spacing), or None: the caller must not say which of the
    two did not match."""
    number = normalized_order_number(order_number)
    wanted = email.strip().casefold()
    if not number or not wanted or len(number) > MAX_ORDER_NUMBER:
        return None
    query = select(Order.id, Order.email, Order.postcode).where(
        Order.name.in_((f"#{number}", number))
    )
    for order_id, order_email, postcode in session.execute(query):
        if _same((order_email or "").strip().casefold(), wanted) or _same(
            _postcode(postcode), _postcode(wanted)
        ):
            return order_id
    return None


def _postcode(text: str | None) -> str:
    return "".join((text or "").split()).casefold()


def _same(known: str, given: str) -> bool:
    return bool(known) and hmac.compare_digest(known.encode(), given.encode())
