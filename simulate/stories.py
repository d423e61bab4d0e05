"""The timelines, as data and source-agnostic: what happens to one order and when (`steps`,
in the order it happened), and in which order the deliveries reporting it reach ordertrack
(`posts`). A platform builder and a carrier builder (`simulate.sources`) turn each
step into the request its provider sends; the story says where the order must end up."""

import random
from dataclasses import dataclass
from datetime import timedelta

from ordertrack.statuses import OrderStatus, ShipmentStatus


@dataclass(frozen=True)
class PlaceOrder:
    """The customer checks out: the order exists, not paid yet."""

    at: timedelta


@dataclass(frozen=True)
class Pay:
    """The payment is captured: the order is the merchant's to ship."""

    at: timedelta


@dataclass(frozen=True)
class Fulfill:
    """The merchant records a parcel and its tracking number in the shop. `items` are the
    line numbers (1-based, in ITEMS) packed in it; empty means all of them."""

    parcel: int
    at: timedelta
    items: tuple[int, ...] = ()


@dataclass(frozen=True)
class Track:
    """The carrier (or aggregator) reports where a parcel is."""

    parcel: int
    status: ShipmentStatus
    at: timedelta


Step = PlaceOrder | Pay | Fulfill | Track


@dataclass(frozen=True)
class Item:
    title: str
    quantity: int
    price: str


#: What every simulated order holds (the fixtures' shared story: Ada's poster and two mugs).
ITEMS = (Item("Analytical Engine Poster", 1, "24.00"), Item("Difference Engine Mug", 2, "14.50"))

#: Who orders it, and where it goes (example.com and a 555 number: nobody real is told).
CUSTOMER = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "phone": "+15555550142",
    "address1": "12 Analytical Avenue",
    "address2": "Apt 4B",
    "city": "New York",
    "state": "NY",
    "zip": "10001",
    "country": "US",
}


@dataclass(frozen=True)
class Story:
    name: str
    summary: str
    #: What happened, oldest first.
    steps: tuple[Step, ...]
    #: Which step's delivery reaches ordertrack, in arrival order (indexes into `steps`). A
    #: repeated index is the same delivery again, byte for byte, as a sender's retry is.
    posts: tuple[int, ...]
    #: The order's status once every delivery is applied, whatever the arrival order.
    expect: OrderStatus
    #: The API's `progress` ("2 of 2 delivered") when the story says; None: not checked.
    progress: str | None = None

    @property
    def parcels(self) -> tuple[int, ...]:
        return tuple(sorted({s.parcel for s in self.steps if isinstance(s, Fulfill)}))

    def statuses(self) -> set[ShipmentStatus]:
        return {s.status for s in self.steps if isinstance(s, Track)}


def _hours(hours: float) -> timedelta:
    return timedelta(hours=hours)


def _placed_and_paid() -> tuple[Step, ...]:
    return (PlaceOrder(_hours(0)), Pay(timedelta(minutes=1)))


def _journey(parcel: int, *scans: tuple[ShipmentStatus, float]) -> tuple[Track, ...]:
    return tuple(Track(parcel, status, _hours(at)) for status, at in scans)


LABEL, TRANSIT, OUT, FAILED, DELIVERED, RETURNED = (
    ShipmentStatus.LABEL_CREATED,
    ShipmentStatus.IN_TRANSIT,
    ShipmentStatus.OUT_FOR_DELIVERY,
    ShipmentStatus.DELIVERY_FAILED,
    ShipmentStatus.DELIVERED,
    ShipmentStatus.RETURNED,
)

#: Placed, paid, shipped in one parcel, delivered two days later.
HAPPY = (
    *_placed_and_paid(),
    Fulfill(1, _hours(5)),
    *_journey(1, (LABEL, 5.1), (TRANSIT, 23), (OUT, 46.5), (DELIVERED, 54.2)),
)


def in_order(steps: tuple[Step, ...]) -> tuple[int, ...]:
    return tuple(range(len(steps)))


def shuffled(steps: tuple[Step, ...], seed: int) -> tuple[int, ...]:
    """A fixed shuffle, so every run (and every test) posts the same arrival order."""
    return tuple(random.Random(seed).sample(range(len(steps)), len(steps)))


def _story(name: str, summary: str, steps: tuple[Step, ...], **kwargs) -> Story:
    kwargs.setdefault("posts", in_order(steps))
    kwargs.setdefault("expect", OrderStatus.DELIVERED)
    return Story(name, summary, steps, **kwargs)


_FAILED_ONCE = (
    *_placed_and_paid(),
    Fulfill(1, _hours(5)),
    *_journey(1, (LABEL, 5.1), (TRANSIT, 23), (OUT, 46.5), (FAILED, 51.3)),
)

_PARKED = (
    *_placed_and_paid(),
    *_journey(1, (LABEL, 3), (TRANSIT, 22), (OUT, 46.5), (DELIVERED, 54.2)),
    Fulfill(1, _hours(56)),
)

_TWO_PARCELS = (
    *_placed_and_paid(),
    Fulfill(1, _hours(5), items=(1,)),
    *_journey(1, (LABEL, 5.1)),
    Fulfill(2, _hours(5.5), items=(2,)),
    *_journey(2, (LABEL, 5.6)),
    *_journey(1, (TRANSIT, 23)),
    *_journey(2, (TRANSIT, 24)),
    *_journey(1, (OUT, 46.5), (DELIVERED, 54.2)),
    *_journey(2, (OUT, 70), (DELIVERED, 76.7)),
)

STORIES: dict[str, Story] = {
    story.name: story
    for story in (
        _story("happy_path", "placed, paid, shipped in one parcel, delivered", HAPPY),
        _story(
            "out_of_order",
            "the happy path's deliveries arrive shuffled (delivered before out for delivery, "
            "tracking before the fulfillment): event times decide, not arrival",
            HAPPY,
            # Seed 10: in transit first, then the order, the label and the delivery, the
            # fulfillment after three of its carrier events, out for delivery after the
            # delivery, and the payment last.
            posts=shuffled(HAPPY, 10),
        ),
        _story(
            "duplicates",
            "the payment, a scan and the delivery are each sent twice (a retry after a lost "
            "answer): the second copy answers 200 duplicate and changes nothing",
            HAPPY,
            posts=(0, 1, 1, 2, 3, 4, 4, 5, 6, 6),
        ),
        _story(
            "failed_attempt_then_delivered",
            "nobody home on the first attempt; out for delivery again the next day, delivered",
            (*_FAILED_ONCE, *_journey(1, (OUT, 70), (DELIVERED, 75.7))),
        ),
        _story(
            "return_to_sender",
            "a failed attempt, never collected, sent back to the shop",
            (*_FAILED_ONCE, *_journey(1, (RETURNED, 170))),
            expect=OrderStatus.RETURNED,
        ),
        _story(
            "carrier_before_fulfillment",
            "the label was bought outside the shop and the tracking number entered after the "
            "parcel arrived: every carrier event waits (parked) until the fulfillment names it",
            _PARKED,
        ),
        _story(
            "two_parcels",
            "the poster and the mugs ship apart and arrive a day apart",
            _TWO_PARCELS,
            progress="2 of 2 delivered",
        ),
    )
}
