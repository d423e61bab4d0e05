"""The delay check's SQL narrowing never leaves out an order the rules would flag: random
orders and parcels (every status, carriers with their own thresholds, learned estimates
from seeded deliveries) against a controlled clock across weekends, holidays and daylight
saving, evaluated in full and only where the cutoffs point, on SQLite and PostgreSQL."""

from datetime import UTC, date, datetime, timedelta
from random import Random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from ordertrack import delays
from ordertrack.business_days import Calendar
from ordertrack.facts import Customer
from ordertrack.lifecycle import OrderState, ShipmentState
from ordertrack.statuses import OrderStatus, ShipmentStatus
from ordertrack.store import delay_candidates, estimates
from ordertrack.store.db import make_engine, make_sessionmaker
from ordertrack.store.flag_models import DelayFlag
from ordertrack.store.models import History, Inbox, Order, Shipment

PREFILTER = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: Around the US (8 March) and European (29 March) clock changes, in New York and Berlin.
FIRST = datetime(2026, 3, 2, tzinfo=UTC)
ZONES = ("UTC", "America/New_York", "Europe/Berlin", "America/Santiago")
CARRIERS = ("UPS", "ups", "DHL", "FedEx", "", None)
MINUTES = 60 * 24


def _time(rng: Random, now: datetime) -> datetime | None:
    """None, or a time up to twelve days before `now` (a little after, now and then)."""
    if rng.random() < 0.25:
        return None
    return now - timedelta(minutes=rng.randint(-MINUTES, 12 * MINUTES))


def _parcel(rng: Random, now: datetime, statuses: list[ShipmentStatus]) -> dict:
    return {
        "status": rng.choice(statuses).value,
        "carrier": rng.choice(CARRIERS),
        "reported_carrier": rng.choice(CARRIERS),
        "tracking_number": rng.choice((None, "", "1Z999", "1Z999")),
        "status_at": _time(rng, now),
        "labelled_at": _time(rng, now),
        "fulfilled_at": _time(rng, now),
        "first_scan_at": _time(rng, now),
        "est_delivery": None
        if rng.random() < 0.5
        else (now + timedelta(days=rng.randint(-8, 3))).date(),
        "cancelled": rng.random() < 0.15,
        "removed": rng.random() < 0.15,
    }


def _order(rng: Random, now: datetime, statuses: list[ShipmentStatus]) -> dict:
    created = now - timedelta(minutes=rng.randint(0, 12 * MINUTES))
    placed = None if rng.random() < 0.5 else created - timedelta(hours=rng.randint(0, 60))
    # Mostly one parcel: an order is a candidate for its parcels together, so with one parcel
    # an order, a cutoff too strict for one kind shows.
    count = rng.choice((0, 1, 1, 1, 2))
    return {
        # Mostly orders that can be late: an order that is over has no flags to find.
        "status": rng.choice(
            delays.OPEN_STATUSES if rng.random() < 0.8 else list(OrderStatus)
        ).value,
        "created_at": created,
        "placed_at": placed,
        "province_code": rng.choice(("NY", "CA", None)),
        "postcode": rng.choice(("10001", "94103", None)),
        "parcels": [_parcel(rng, now, statuses) for _ in range(count)],
        "flagged": rng.random() < 0.05,
    }


@st.composite
def shops(draw) -> dict:
    """A shop at one moment. Hypothesis draws a seed and the values come from it: spread
    evenly over statuses and ages, where Hypothesis's own draws favour the first and the
    smallest (most parcels would be `unknown` and a minute old)."""
    rng = draw(st.randoms(use_true_random=True))
    now = FIRST + timedelta(minutes=rng.randint(0, 40 * MINUTES))

    def slas() -> delays.Slas:
        return delays.Slas(*(rng.randint(0, 5) for _ in delays.SLA_KEYS))

    days_off = {now.date() + timedelta(days=rng.randint(-20, 10)) for _ in range(rng.randint(0, 6))}
    weekdays = rng.choice(((0, 1, 2, 3, 4), (0, 1, 2, 3, 4, 5), tuple(range(7)), None))
    weekdays = weekdays or sorted(rng.sample(range(7), rng.randint(1, 7)))
    # A shop's parcels in one to three statuses, so that each example puts many parcels
    # before the same rules.
    statuses = rng.sample(list(ShipmentStatus), rng.randint(1, 3))
    return {
        "now": now,
        "calendar": Calendar.build(rng.choice(ZONES), weekdays, (), days_off),
        "policy": delays.DelayPolicy(
            slas(), {code: slas() for code in ("ups", "dhl") if rng.random() < 0.5}
        ),
        "orders": [_order(rng, now, statuses) for _ in range(rng.randint(10, 40))],
        # Past deliveries the lanes learn from: carrier, region, days ago, days in transit.
        "deliveries": [
            (
                rng.choice(("UPS", "dhl")),
                rng.choice(("NY", "CA")),
                rng.randint(1, 60),
                rng.randint(0, 8),
            )
            for _ in range(rng.randint(0, 12))
        ],
        "min_samples": rng.randint(1, 3),
    }


@pytest.fixture
def sessions(database_url):
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def _empty(session) -> None:
    for model in (DelayFlag, History, Shipment, Order, Inbox):
        session.execute(delete(model))


def _store(session, shop: dict) -> list[tuple[Order, dict]]:
    now, stored = shop["now"], []
    for n, drawn in enumerate(shop["orders"]):
        order = Order(
            platform="shopify",
            external_id=str(n),
            platform_status="received",
            status=drawn["status"],
            furthest_stage=0,
            items=[],
            country_code="US",
            province_code=drawn["province_code"],
            postcode=drawn["postcode"],
            created_at=drawn["created_at"],
            updated_at=drawn["created_at"],
            placed_at=drawn["placed_at"],
        )
        order.shipments = [
            Shipment(key=f"f:{j}", items=[], **p) for j, p in enumerate(drawn["parcels"])
        ]
        session.add(order)
        stored.append((order, drawn))
    session.flush()
    for order, drawn in stored:
        if drawn["flagged"]:
            session.add(
                DelayFlag(
                    order_id=order.id,
                    parcel="",
                    kind="not_shipped",
                    detail="",
                    since=now,
                    created_at=now,
                )
            )
    _deliveries(session, shop)
    session.flush()
    return stored


def _deliveries(session, shop: dict) -> None:
    """Delivered parcels, with the carrier's first scan in the history (what lanes learn)."""
    now = shop["now"]
    inbox = Inbox(
        source="test",
        dedupe_key="seed",
        topic="seed",
        headers={},
        body=b"{}",
        received_at=now,
        touched_at=now,
        status="processed",
        attempts=1,
    )
    session.add(inbox)
    session.flush()
    for n, (carrier, region, ago, took) in enumerate(shop["deliveries"]):
        delivered = now - timedelta(days=ago)
        scanned = delivered - timedelta(days=took)
        order = Order(
            platform="woocommerce",
            external_id=f"past-{n}",
            platform_status="completed",
            status="delivered",
            furthest_stage=5,
            items=[],
            country_code="US",
            province_code=region,
            postcode="10001",
            created_at=scanned,
            updated_at=delivered,
        )
        order.shipments = [
            Shipment(key="f:1", items=[], carrier=carrier, status="delivered", status_at=delivered)
        ]
        session.add(order)
        session.flush()
        for index, (status, at) in enumerate((("in_transit", scanned), ("delivered", delivered))):
            session.add(
                History(
                    order_id=order.id,
                    inbox_id=inbox.id,
                    fact_index=index,
                    shipment_key="f:1",
                    kind="tracking",
                    status=status,
                    occurred_at=at,
                    source="test",
                )
            )


def _state(order: Order, drawn: dict) -> OrderState:
    """The order as the rules see it, from what was drawn (not read back by the check)."""
    shipments = tuple(
        ShipmentState(
            key=f"f:{j}",
            **{k: v for k, v in p.items() if k not in ("status", "first_scan_at")},
            status=ShipmentStatus(p["status"]),
        )
        for j, p in enumerate(drawn["parcels"])
    )
    customer = Customer(province_code=drawn["province_code"], postcode=drawn["postcode"])
    return OrderState(status=OrderStatus(drawn["status"]), customer=customer, shipments=shipments)


def _flags(session, book, shop: dict, stored: list[tuple[Order, dict]]) -> set[tuple]:
    found = set()
    for order, drawn in stored:
        state = _state(order, drawn)
        scans = {(order.id, f"f:{j}"): p["first_scan_at"] for j, p in enumerate(drawn["parcels"])}
        scans = {key: at for key, at in scans.items() if at is not None}
        learned = book.for_order(session, order, state.shipments, scans)
        placed = drawn["placed_at"] or drawn["created_at"]
        for flag in delays.open_flags(
            state, placed, shop["now"], shop["calendar"], shop["policy"], learned
        ):
            found.add((order.id, flag.key, flag.since))
    return found


@PREFILTER
@given(shop=shops())
def test_the_cutoffs_never_leave_out_an_order_the_rules_would_flag(sessions, shop):
    with sessions.begin() as session:
        _empty(session)
        stored = _store(session, shop)
        now = shop["now"]
        book = estimates.Book(shop["calendar"], now, 90, shop["min_samples"])
        limits = delays.cutoffs(now, shop["calendar"], shop["policy"], book.least_p90(session))
        candidates = set(delay_candidates.order_ids(session, limits))
        everything = _flags(session, book, shop, stored)
        narrowed = [(order, drawn) for order, drawn in stored if order.id in candidates]
        assert _flags(session, book, shop, narrowed) == everything
        assert {order.id for order, drawn in stored if drawn["flagged"]} <= candidates


def test_the_cutoffs_leave_out_parcels_on_time(sessions):
    """The narrowing narrows: a parcel scanned this morning, due next week, is no candidate;
    the same parcel a week without a scan is."""
    now = datetime(2026, 5, 13, 12, 0, tzinfo=UTC)  # a Wednesday
    parcel = {"status": "in_transit", "carrier": "UPS", "est_delivery": date(2026, 5, 20)}
    shop = {
        "now": now,
        "calendar": Calendar.build("UTC", (0, 1, 2, 3, 4), (), ()),
        "policy": delays.DelayPolicy(),
        "orders": [
            {
                "status": "in_transit",
                "created_at": now - timedelta(days=3),
                "placed_at": None,
                "province_code": None,
                "postcode": None,
                "flagged": False,
                "parcels": [parcel | {"status_at": now - timedelta(hours=3)}],
            },
            {
                "status": "in_transit",
                "created_at": now - timedelta(days=9),
                "placed_at": None,
                "province_code": None,
                "postcode": None,
                "flagged": False,
                "parcels": [parcel | {"status_at": now - timedelta(days=7)}],
            },
        ],
        "deliveries": [],
    }
    with sessions.begin() as session:
        _empty(session)
        on_time, late = (order.id for order, _ in _store(session, shop))
        limits = delays.cutoffs(now, shop["calendar"], shop["policy"])
        candidates = delay_candidates.order_ids(session, limits)
        assert late in candidates and on_time not in candidates
