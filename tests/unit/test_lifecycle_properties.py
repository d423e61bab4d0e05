"""The lifecycle's rules as properties (docs/design.md, "Rules that must hold"), on facts built
by hand and `lifecycle.apply` alone: no providers, no store.

The store's part in the rules is modelled in `_arrive`: every delivery is applied as its own
batch, a carrier event that names a tracking number no shipment has yet comes back in
`Outcome.parked`, and a parked event is applied again once a fulfillment names its number.
"""

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ordertrack.facts import (
    Customer,
    Fact,
    FulfillmentFact,
    LineItem,
    OrderFact,
    ShipmentRef,
    TrackingFact,
)
from ordertrack.lifecycle import (
    OrderState,
    ShipmentState,
    Transition,
    apply,
    derive_status,
    progress_summary,
)
from ordertrack.statuses import ATTENTION, OrderStatus, ShipmentStatus, stage

PLATFORM = "shopify"
ORDER_ID = "5531234567890"
START = datetime(2026, 11, 2, 9, tzinfo=UTC)
CUSTOMER = Customer(email="ada@example.com", phone="+15555550142", name="Ada Lovelace")
ITEMS = (LineItem("13001234567890", "Analytical Engine Poster", 1),)
CARRIERS = ("USPS", "UPS", "FedEx")

PROPERTY = settings(max_examples=150, deadline=None)


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


# ---------------------------------------------------------------------------------------------
# Building facts


def order_fact(hours: float, status: OrderStatus | None = OrderStatus.PROCESSING) -> OrderFact:
    return OrderFact(
        PLATFORM, ORDER_ID, at(hours), status=status, name="#1042", customer=CUSTOMER, items=ITEMS
    )


def fulfillment(n: int, hours: float = 0, **changes) -> FulfillmentFact:
    fact = FulfillmentFact(
        PLATFORM,
        ORDER_ID,
        fulfillment_id=f"F{n}",
        occurred_at=at(hours),
        carrier=CARRIERS[n % len(CARRIERS)],
        tracking_number=f"TRK{n}",
        tracking_url=f"https://track.test/TRK{n}",
    )
    return replace(fact, **changes)


def scan(n: int, status: ShipmentStatus, hours: float, **changes) -> TrackingFact:
    """A carrier event, naming its parcel by tracking number only."""
    fact = TrackingFact(
        ShipmentRef(tracking_number=f"TRK{n}"),
        status,
        at(hours),
        raw_status=status.value,
        carrier=CARRIERS[n % len(CARRIERS)],
    )
    return replace(fact, **changes)


def platform_event(n: int, status: ShipmentStatus, hours: float, **changes) -> TrackingFact:
    """A platform's fulfillment event, naming its parcel by fulfillment id only."""
    ref = ShipmentRef(platform=PLATFORM, order_id=ORDER_ID, fulfillment_id=f"F{n}")
    return replace(TrackingFact(ref, status, at(hours), raw_status=status.value), **changes)


def shipment(n: int, status: ShipmentStatus, *, cancelled: bool = False) -> ShipmentState:
    return ShipmentState(
        key=f"f:F{n}", tracking_number=f"TRK{n}", status=status, cancelled=cancelled
    )


def with_shipments(*statuses: ShipmentStatus, platform=OrderStatus.PROCESSING) -> OrderState:
    return OrderState(
        platform_status=platform, shipments=tuple(shipment(n, s) for n, s in enumerate(statuses))
    )


# ---------------------------------------------------------------------------------------------
# The store's behaviour, modelled


@dataclass
class Replay:
    state: OrderState
    applied: list[Fact]
    parked: list[TrackingFact]


def _arrive(deliveries: list[list[Fact]]) -> Replay:
    """Apply each delivery (a list of facts, as one webhook carries them) in arrival order."""
    replay = Replay(OrderState(), [], [])

    def run(batch: list[Fact]) -> None:
        outcome = apply(replay.state, batch)
        replay.state = outcome.state
        replay.parked += outcome.parked
        replay.applied += [fact for fact in batch if fact not in outcome.parked]
        named = {f.tracking_number for f in batch if isinstance(f, FulfillmentFact)}
        waiting = [f for f in replay.parked if f.shipment.tracking_number in named]
        replay.parked = [f for f in replay.parked if f not in waiting]
        for fact in waiting:
            run([fact])

    for batch in deliveries:
        run(batch)
    return replay


def _one_by_one(facts: list[Fact]) -> Replay:
    return _arrive([[fact] for fact in facts])


def _settled(state: OrderState) -> OrderState:
    """The state with its shipments in a canonical order. `furthest_stage` is left out: it
    records how far the order had got by the time each event *arrived* (what "never stale"
    compares), so it is history of the arrival order by design."""
    shipments = tuple(sorted(state.shipments, key=lambda s: s.key))
    return replace(state, furthest_stage=0, shipments=shipments)


def _only_shipment(state: OrderState) -> ShipmentState:
    (only,) = state.shipments
    return only


# ---------------------------------------------------------------------------------------------
# Strategies

moments = st.integers(0, 16).map(float)  # a small pool of instants, so facts often share one
order_statuses = st.sampled_from(
    [None, OrderStatus.RECEIVED, OrderStatus.PROCESSING, OrderStatus.ON_HOLD]
)
any_status = st.sampled_from(ShipmentStatus)
applied_statuses = st.sampled_from([s for s in ShipmentStatus if s is not ShipmentStatus.UNKNOWN])
details = st.sampled_from([None, "arrived_at_facility", "out_for_delivery", "delivery_exception"])
est_deliveries = st.sampled_from([None, date(2026, 11, 4), date(2026, 11, 5)])


@st.composite
def tracking_facts(draw, n: int, statuses=any_status, hours=moments):
    status = draw(statuses)
    build = draw(st.sampled_from([scan, platform_event]))
    return build(
        n,
        status,
        draw(hours),
        raw_status=draw(st.sampled_from([status.value, f"{status.value}_code"])),
        detail=draw(details),
        message=draw(st.sampled_from([None, "Arrived at Post Office"])),
        carrier=draw(st.sampled_from([None, CARRIERS[n % len(CARRIERS)]])),
        est_delivery=draw(est_deliveries),
    )


@st.composite
def stories(draw, *, final_order_statuses: bool = True) -> list[Fact]:
    """One order's story, listed as it happened: every parcel's fulfillment comes before the
    events that name it. Instants repeat on purpose; a fulfillment may be reported several
    times (the platform's create, update and cancel all carry the fulfillment's creation time)
    and may at first lack its carrier or tracking number."""
    statuses = order_statuses
    if final_order_statuses:
        statuses = statuses | st.sampled_from([OrderStatus.CANCELLED, OrderStatus.REFUNDED])
    facts: list[Fact] = [
        order_fact(draw(moments), draw(statuses)) for _ in range(draw(st.integers(1, 3)))
    ]
    for n in range(draw(st.integers(1, 3))):
        created = draw(moments)
        facts.append(fulfillment(n, created))
        for _ in range(draw(st.integers(0, 2))):
            facts.append(
                fulfillment(
                    n,
                    draw(st.sampled_from([created, created + 1])),
                    carrier=draw(st.sampled_from([None, CARRIERS[n % len(CARRIERS)]])),
                    tracking_number=draw(st.sampled_from([None, f"TRK{n}"])),
                    cancelled=draw(st.booleans()),
                )
            )
        facts += draw(st.lists(tracking_facts(n), max_size=5))
    return facts


@st.composite
def arrivals(draw, story: list[Fact]) -> list[list[Fact]]:
    """The story as it may arrive: any order, any duplicates, grouped into deliveries of one
    to three facts."""
    duplicates = draw(st.lists(st.sampled_from(story), max_size=len(story)))
    shuffled = draw(st.permutations(story + duplicates))
    deliveries, rest = [], list(shuffled)
    while rest:
        size = draw(st.integers(1, 3))
        deliveries.append(rest[:size])
        rest = rest[size:]
    return deliveries


@st.composite
def story_and_arrival(draw):
    story = draw(stories())
    return story, draw(arrivals(story))


# ---------------------------------------------------------------------------------------------
# Convergence


@PROPERTY
@given(story_and_arrival())
def test_any_arrival_order_with_duplicates_converges_on_the_in_order_state(case):
    story, deliveries = case
    arrived = _arrive(deliveries)
    assert _settled(arrived.state) == _settled(_one_by_one(story).state)
    assert arrived.state.status is derive_status(arrived.state)
    assert arrived.parked == [], "every parked event was applied once its fulfillment came"
    assert set(arrived.applied) == set(story)


@PROPERTY
@given(stories())
def test_applying_a_fact_again_changes_nothing(story):
    state = _one_by_one(story).state
    for fact in story:
        outcome = apply(state, [fact])
        assert outcome.state == state
        assert outcome.transition is None


@PROPERTY
@given(stories())
def test_facts_applied_together_end_where_facts_applied_one_by_one_end(story):
    together = apply(OrderState(), story)
    assert together.parked == ()
    assert _settled(together.state) == _settled(_one_by_one(story).state)


def test_the_same_scan_reported_by_platform_and_carrier_at_one_instant_converges():
    """Shopify's fulfillment event and EasyPost's tracker both say "delivered" at 15:12; only
    the carrier gives a status detail. Whichever arrives first, the shipment ends the same."""
    shopify_says = platform_event(0, ShipmentStatus.DELIVERED, 30, message="Delivered")
    carrier_says = scan(0, ShipmentStatus.DELIVERED, 30, detail="arrived_at_destination")
    one_way = _one_by_one([fulfillment(0), shopify_says, carrier_says]).state
    other_way = _one_by_one([fulfillment(0), carrier_says, shopify_says]).state
    assert _settled(one_way) == _settled(other_way)


def test_at_the_same_instant_the_further_status_wins_in_either_order():
    events = [scan(0, ShipmentStatus.IN_TRANSIT, 5), scan(0, ShipmentStatus.OUT_FOR_DELIVERY, 5)]
    for arrival in (events, events[::-1]):
        state = _one_by_one([fulfillment(0), *arrival]).state
        assert _only_shipment(state).status is ShipmentStatus.OUT_FOR_DELIVERY


def test_a_cancelled_fulfillment_stays_cancelled_when_carrier_scans_arrive_after_it():
    story = [
        fulfillment(0, 0),
        fulfillment(1, 0),
        fulfillment(1, 0, cancelled=True),
        scan(0, ShipmentStatus.DELIVERED, 9),
        scan(1, ShipmentStatus.IN_TRANSIT, 5),
    ]
    in_order = _one_by_one(story).state
    cancel_last = _one_by_one([*story[:2], *story[3:], story[2]]).state
    for state in (in_order, cancel_last):
        assert state.status is OrderStatus.DELIVERED
        assert state.shipment("f:F1").cancelled
    assert _settled(in_order) == _settled(cancel_last)


# ---------------------------------------------------------------------------------------------
# Older events never move a shipment back; newer ones always apply


@st.composite
def scanned_stories(draw):
    """A story whose first parcel has had at least one carrier status applied."""
    story = draw(stories(final_order_statuses=False))
    return [*story, scan(0, draw(applied_statuses), draw(moments))]


def _status_fields(s: ShipmentState) -> tuple:
    return (s.status, s.status_at, s.raw_status, s.detail, s.cancelled)


def _hours(moment: datetime) -> float:
    return (moment - START) / timedelta(hours=1)


@PROPERTY
@given(scanned_stories(), st.sampled_from([0.25, 1, 6, 48]), st.data())
def test_an_event_older_than_what_the_shipment_knows_never_moves_it(story, earlier, data):
    state = _one_by_one(story).state
    known = state.shipment("f:F0")
    older = data.draw(tracking_facts(0, hours=st.just(_hours(known.status_at) - earlier)))
    outcome = apply(state, [older])
    assert _status_fields(outcome.state.shipment("f:F0")) == _status_fields(known)
    assert outcome.state.status is state.status
    assert outcome.transition is None
    assert outcome.parked == ()


@PROPERTY
@given(scanned_stories(), st.sampled_from([0.25, 1, 6, 48]), st.data())
def test_a_newer_event_always_applies_even_when_it_goes_backwards(story, later, data):
    state = _one_by_one(story).state
    known = state.shipment("f:F0")
    newer = data.draw(
        tracking_facts(0, statuses=applied_statuses, hours=st.just(_hours(known.status_at) + later))
    )
    outcome = apply(state, [newer])
    after = outcome.state.shipment("f:F0")
    assert (after.status, after.status_at, after.raw_status, after.detail) == (
        newer.status,
        newer.occurred_at,
        newer.raw_status,
        newer.detail,
    )
    assert outcome.state.status is derive_status(outcome.state)
    moved = outcome.state.status is not state.status
    assert (outcome.transition is not None) is moved


@PROPERTY
@given(scanned_stories(), st.sampled_from([0.25, 1, 6, 48]), st.data())
def test_an_unknown_carrier_code_is_never_applied_however_new(story, later, data):
    state = _one_by_one(story).state
    known = state.shipment("f:F0")
    unknown = data.draw(
        tracking_facts(
            0,
            statuses=st.just(ShipmentStatus.UNKNOWN),
            hours=st.just(_hours(known.status_at) + later),
        )
    )
    outcome = apply(state, [unknown])
    assert _status_fields(outcome.state.shipment("f:F0")) == _status_fields(known)
    assert outcome.transition is None


def test_a_failed_attempt_after_out_for_delivery_moves_the_order_back_to_in_transit():
    """EasyPost reports a failed attempt that will be retried as `in_transit`."""
    state = _one_by_one(
        [order_fact(0), fulfillment(0, 1), scan(0, ShipmentStatus.OUT_FOR_DELIVERY, 20)]
    )
    assert state.state.status is OrderStatus.OUT_FOR_DELIVERY
    attempt = scan(0, ShipmentStatus.IN_TRANSIT, 23, detail="delivery_exception")
    outcome = apply(state.state, [attempt])
    assert outcome.state.status is OrderStatus.IN_TRANSIT
    assert _only_shipment(outcome.state).detail == "delivery_exception"
    assert outcome.transition == Transition(
        OrderStatus.OUT_FOR_DELIVERY, OrderStatus.IN_TRANSIT, stage(OrderStatus.OUT_FOR_DELIVERY)
    )
    assert outcome.state.furthest_stage == stage(OrderStatus.OUT_FOR_DELIVERY)


def test_a_late_in_transit_scan_after_delivery_is_ignored():
    state = _one_by_one([fulfillment(0), scan(0, ShipmentStatus.DELIVERED, 30)]).state
    outcome = apply(state, [scan(0, ShipmentStatus.IN_TRANSIT, 20)])
    assert outcome.state == state
    assert outcome.transition is None


# ---------------------------------------------------------------------------------------------
# Parking


@PROPERTY
@given(stories(), st.data())
def test_a_carrier_event_for_a_tracking_number_no_shipment_has_is_parked_untouched(story, data):
    state = _one_by_one(story).state
    stranger = data.draw(tracking_facts(7))
    stranger = replace(stranger, shipment=ShipmentRef(tracking_number="TRK7"))
    outcome = apply(state, [stranger])
    assert outcome.parked == (stranger,)
    assert outcome.state == state
    assert outcome.transition is None


@PROPERTY
@given(stories(), st.data())
def test_parked_events_applied_after_their_fulfillment_end_as_if_they_came_after_it(story, data):
    early = [f for f in story if isinstance(f, TrackingFact) and f.shipment.tracking_number]
    first = data.draw(st.permutations(early))
    rest = [f for f in story if f not in early]
    parked_first = _one_by_one([*first, *rest])
    assert parked_first.parked == []
    assert _settled(parked_first.state) == _settled(_one_by_one(story).state)


def test_a_parked_scan_is_applied_when_the_fulfillment_naming_its_number_arrives():
    early = scan(0, ShipmentStatus.OUT_FOR_DELIVERY, 20)
    waiting = apply(OrderState(), [order_fact(0), early])
    assert waiting.parked == (early,)
    assert waiting.state.shipments == ()
    replay = _one_by_one([order_fact(0), early, fulfillment(0, 1)])
    assert replay.parked == []
    assert _only_shipment(replay.state).status is ShipmentStatus.OUT_FOR_DELIVERY
    assert replay.state.status is OrderStatus.OUT_FOR_DELIVERY


def test_a_fulfillment_and_its_carrier_event_in_one_delivery_need_no_parking():
    outcome = apply(OrderState(), [scan(0, ShipmentStatus.IN_TRANSIT, 8), fulfillment(0, 1)])
    assert outcome.parked == ()
    assert outcome.state.status is OrderStatus.IN_TRANSIT


# ---------------------------------------------------------------------------------------------
# derive_status and progress_summary

shipment_statuses = st.sampled_from([s for s in ShipmentStatus if s is not ShipmentStatus.UNKNOWN])


@st.composite
def states(draw) -> OrderState:
    platform = draw(st.sampled_from(OrderStatus))
    shipments = tuple(
        shipment(n, draw(shipment_statuses), cancelled=draw(st.booleans()))
        for n in range(draw(st.integers(0, 4)))
    )
    return OrderState(platform_status=platform, shipments=shipments)


def _live(state: OrderState) -> list[ShipmentState]:
    return [
        s for s in state.shipments if not s.cancelled and s.status is not ShipmentStatus.CANCELLED
    ]


@PROPERTY
@given(states())
def test_an_order_is_as_far_along_as_its_least_advanced_live_shipment(state):
    status = derive_status(state)
    live = _live(state)
    if state.platform_status in (OrderStatus.CANCELLED, OrderStatus.REFUNDED) or not live:
        assert status is state.platform_status
    elif trouble := [s.status for s in live if s.status in ATTENTION]:
        assert status.value in trouble
        assert ATTENTION.index(status.value) == min(ATTENTION.index(t) for t in trouble)
    elif state.platform_status is OrderStatus.COMPLETED and all(
        s.status is ShipmentStatus.DELIVERED for s in live
    ):
        assert status is OrderStatus.COMPLETED
    else:
        assert stage(status) == min(stage(s.status) for s in live)


@PROPERTY
@given(states())
def test_progress_is_told_as_delivered_out_of_live_parcels_once_there_are_two(state):
    live = _live(state)
    summary = progress_summary(state)
    if len(live) < 2:
        assert summary is None
    else:
        delivered = sum(s.status is ShipmentStatus.DELIVERED for s in live)
        assert summary == f"{delivered} of {len(live)} delivered"


def test_one_of_two_parcels_delivered_reads_1_of_2_and_in_transit():
    state = with_shipments(ShipmentStatus.DELIVERED, ShipmentStatus.IN_TRANSIT)
    assert progress_summary(state) == "1 of 2 delivered"
    assert derive_status(state) is OrderStatus.IN_TRANSIT


def test_both_parcels_delivered_reads_2_of_2_and_delivered():
    state = with_shipments(ShipmentStatus.DELIVERED, ShipmentStatus.DELIVERED)
    assert progress_summary(state) == "2 of 2 delivered"
    assert derive_status(state) is OrderStatus.DELIVERED


def test_a_single_parcel_has_no_progress_summary():
    assert progress_summary(with_shipments(ShipmentStatus.DELIVERED)) is None


def test_a_fulfillment_the_platform_cancelled_does_not_count_towards_progress_or_status():
    state = with_shipments(ShipmentStatus.DELIVERED, ShipmentStatus.DELIVERED)
    state = replace(
        state, shipments=(*state.shipments, shipment(2, ShipmentStatus.IN_TRANSIT, cancelled=True))
    )
    assert progress_summary(state) == "2 of 2 delivered"
    assert derive_status(state) is OrderStatus.DELIVERED


def test_a_parcel_whose_label_the_carrier_cancelled_does_not_count():
    story = [fulfillment(0), fulfillment(1), scan(0, ShipmentStatus.DELIVERED, 9)]
    state = _one_by_one([*story, scan(1, ShipmentStatus.CANCELLED, 3)]).state
    assert derive_status(state) is OrderStatus.DELIVERED
    assert progress_summary(state) is None


def test_a_newer_scan_after_a_carrier_cancellation_counts_the_parcel_again():
    story = [fulfillment(0), fulfillment(1), scan(0, ShipmentStatus.DELIVERED, 9)]
    cancelled_then_scanned = [
        scan(1, ShipmentStatus.CANCELLED, 3),
        scan(1, ShipmentStatus.IN_TRANSIT, 5),
    ]
    state = _one_by_one([*story, *cancelled_then_scanned]).state
    assert derive_status(state) is OrderStatus.IN_TRANSIT
    assert progress_summary(state) == "1 of 2 delivered"


def test_a_parcel_in_trouble_shows_before_a_less_advanced_one():
    state = with_shipments(ShipmentStatus.LABEL_CREATED, ShipmentStatus.EXCEPTION)
    assert derive_status(state) is OrderStatus.EXCEPTION


def test_a_label_created_parcel_makes_the_order_shipped():
    assert derive_status(with_shipments(ShipmentStatus.LABEL_CREATED)) is OrderStatus.SHIPPED


def test_an_order_without_parcels_reads_as_the_platform_says():
    assert derive_status(with_shipments(platform=OrderStatus.ON_HOLD)) is OrderStatus.ON_HOLD


def test_a_cancelled_order_reads_cancelled_whatever_its_parcels_say():
    state = with_shipments(ShipmentStatus.DELIVERED, platform=OrderStatus.CANCELLED)
    assert derive_status(state) is OrderStatus.CANCELLED


def test_a_delivered_order_the_merchant_completed_reads_completed():
    state = with_shipments(ShipmentStatus.DELIVERED, platform=OrderStatus.COMPLETED)
    assert derive_status(state) is OrderStatus.COMPLETED
