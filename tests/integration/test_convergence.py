"""Convergence through the real pipeline and store (docs/design.md, "Rules that must hold").

Each run records the story's webhooks in the inbox (`store.inbox.record`, as the receiver
does) in some arrival order and processes each row at once with `pipeline.claim` and
`pipeline.process`, one transaction per row, as the `process_event` actor does. Rows that a
fulfillment unparks are processed again, as the actor re-enqueues them. A duplicate is both a
provider re-sending the delivery (the inbox keeps one row) and the queue delivering the row's
id again. No queue or worker is needed for that.
"""

import json
import random
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from ordertrack import pipeline
from ordertrack.notifications.news_rules import parcel_key
from ordertrack.settings import Settings
from ordertrack.store import milestones, rollup_models, rollups
from ordertrack.store.db import make_engine, make_sessionmaker
from ordertrack.store.documents import order_document
from ordertrack.store.inbox import NewInboxRow, record
from ordertrack.store.models import History, Inbox, Order, Outbox, ParkedNumber, Shipment
from tests.support.webhooks import STORY, Request, easypost, shopify

#: Order #1042 as it happened (tests/fixtures/README.md, "Timeline"): STORY plus the Shopify
#: webhooks that repeat what the carrier says, some at the very same instant.
TIMELINE = [
    *STORY[:3],  # orders_create 09:00, orders_paid 09:01, fulfillments_create 14:00
    shopify("orders_partially_fulfilled"),  # 14:00:01
    STORY[4],  # tracker_created 14:05
    STORY[3],  # fulfillments_create__second_parcel 14:30
    shopify("orders_fulfilled"),  # 14:30:01
    STORY[5],  # USPS in_transit, 11-03 08:00
    shopify("fulfillments_update"),  # parcel 1 in_transit 08:05
    shopify("orders_updated"),  # 08:05
    STORY[6],  # UPS in_transit 09:00
    STORY[7],  # USPS out_for_delivery, 11-04 07:30
    shopify("fulfillment_events_create"),  # out_for_delivery, 07:30 too
    STORY[8],  # USPS delivered 15:12
    shopify("fulfillment_events_create__delivered"),  # delivered, 15:12 too
    STORY[9],  # UPS out_for_delivery, 11-05 07:00
    STORY[10],  # UPS delivered 13:40
]
assert {r.name for r in STORY} <= {r.name for r in TIMELINE}

#: Notification kinds in the order a customer may hear them of one parcel, and the parcel
#: statuses each announces: a parcel's news never goes backwards.
NEWS = {
    "shipped": ("label_created", "in_transit"),
    "out_for_delivery": ("out_for_delivery",),
    "delivered": ("delivered",),
}
NEWS_ORDER = list(NEWS)

CONVERGENCE = settings(max_examples=40, deadline=None)
#: SQLite files for the examples live in memory where the machine offers it.
_SCRATCH = "/dev/shm" if Path("/dev/shm").is_dir() else None


def _inbox_entry(request: Request) -> NewInboxRow:
    """What the receiver commits for this request. The topic and delivery id are read here
    from the fixture itself, not through the provider module."""
    if request.source == "shopify":
        topic = request.headers["X-Shopify-Topic"]
        dedupe_key = request.headers["X-Shopify-Webhook-Id"]
    else:
        event = json.loads(request.body)
        topic, dedupe_key = event["description"], event["id"]
    return NewInboxRow(request.source, dedupe_key, topic, dict(request.headers), request.body, True)


def _tracking_numbers(request: Request) -> tuple[set[str], set[str]]:
    """(numbers this webhook's fulfillments name, numbers its carrier events report)."""
    body = json.loads(request.body)
    if request.source == "easypost":
        return set(), {body["result"]["tracking_code"]}
    fulfillments = body.get("fulfillments", [body] if "tracking_number" in body else [])
    return {f["tracking_number"] for f in fulfillments if f.get("tracking_number")}, set()


# ---------------------------------------------------------------------------------------------
# One run: deliver, process, watch


class Run:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = make_sessionmaker(engine)
        #: request name -> inbox id of its first delivery
        self.inbox_ids: dict[str, int] = {}
        #: tracking numbers a processed fulfillment has named so far
        self.named: set[str] = set()
        #: outbox kinds in the order they were written, by parcel
        self.announced: dict[str, list[str]] = {}
        #: carrier events that arrived before any fulfillment named their parcel
        self.parked = 0

    def deliver(self, request: Request) -> None:
        with self.engine.begin() as connection:
            (new_id,) = record(connection, [_inbox_entry(request)])
        if request.name in self.inbox_ids:
            assert new_id is None, "a re-sent delivery must not make a second inbox row"
        else:
            assert new_id is not None
            self.inbox_ids[request.name] = new_id
        inbox_id = self.inbox_ids[request.name]
        names, reports = _tracking_numbers(request)
        parked_before = self._parked()
        unparked = self.process(inbox_id)
        self.named |= names
        if reports and not reports & self.named:
            assert inbox_id in self._parked(), f"{request.name} arrived first: it must be parked"
            self.parked += 1
        expected = {i for i, number in parked_before.items() if number in names}
        assert set(unparked) == expected, "a fulfillment unparks exactly the events it names"
        waiting = list(unparked)
        while waiting:
            waiting += self.process(waiting.pop(0))

    def process(self, inbox_id: int) -> list[int]:
        before = self._outbox_ids()
        with self.sessions.begin() as session:
            row = pipeline.claim(session, inbox_id)
            result = pipeline.process(session, row, Settings()) if row else pipeline.Processed()
        self._check_announcements(before)
        return result.unparked_inbox_ids

    def _parked(self) -> dict[int, str]:
        with self.sessions() as session:
            rows = session.execute(
                select(Inbox.id, ParkedNumber.tracking_number)
                .join(ParkedNumber, ParkedNumber.inbox_id == Inbox.id)
                .where(Inbox.status == "parked")
            )
            return {inbox_id: number for inbox_id, number in rows}

    def _outbox_ids(self) -> set[int]:
        with self.sessions() as session:
            return set(session.scalars(select(Outbox.id)))

    def _check_announcements(self, before: set[int]) -> None:
        """Every outbox row tells where its parcel stands as it is written, and never news the
        customer has already been told something further than of that parcel."""
        with self.sessions() as session:
            new = session.scalars(
                select(Outbox).where(Outbox.id.not_in(before)).order_by(Outbox.id)
            ).all()
            parcels = dict(session.execute(select(Shipment.key, Shipment.status)).all())
        for row in new:
            key = parcel_key(row.parcel)
            assert key in parcels, "a parcel's news names its parcel"
            assert parcels[key] in NEWS[row.kind], (row.kind, parcels[key])
            told = self.announced.setdefault(key, [])
            if told:
                assert NEWS_ORDER.index(row.kind) > NEWS_ORDER.index(told[-1])
            told.append(row.kind)

    @property
    def told(self) -> list[list[str]]:
        """Each parcel's news, in the order the parcels were first told of."""
        return list(self.announced.values())


def _migrated_copy(template: Path, directory: str) -> str:
    database = Path(directory) / "ordertrack.db"
    shutil.copyfile(template, database)
    return f"sqlite:///{database}"


def _replay(url: str, arrival: list[Request]) -> tuple[dict, Run]:
    run = Run(make_engine(url))
    try:
        for request in arrival:
            run.deliver(request)
        return _snapshot(run), run
    finally:
        run.engine.dispose()


# ---------------------------------------------------------------------------------------------
# What must converge


def _columns(row, skip: set[str]) -> dict:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in skip}


def _snapshot(run: Run) -> dict:
    with run.sessions() as session:
        (order,) = session.scalars(select(Order)).all()
        shipments = session.scalars(select(Shipment).order_by(Shipment.key)).all()
        history = session.execute(
            select(
                History.occurred_at,
                History.kind,
                History.status,
                History.raw_status,
                History.detail,
                History.shipment_key,
                History.source,
                Inbox.dedupe_key,
                History.fact_index,
            ).join(Inbox, Inbox.id == History.inbox_id)
        ).all()
        inbox = session.scalars(select(Inbox.status)).all()
        return {
            "progress": order_document(session, order)["progress"],
            "order": _columns(order, {"id", "created_at", "updated_at"}),
            "shipments": [_columns(s, {"id", "order_id"}) for s in shipments],
            "history": sorted(tuple(entry) for entry in history),
            "inbox": sorted(inbox),
        }


@pytest.fixture(scope="module")
def in_order(template) -> tuple[dict, Run]:
    with tempfile.TemporaryDirectory(dir=_SCRATCH) as directory:
        return _replay(_migrated_copy(template, directory), TIMELINE)


def test_the_story_in_order_ends_delivered_with_every_webhook_in_the_history(in_order):
    snapshot, run = in_order
    assert snapshot["order"]["status"] == "delivered"
    assert snapshot["progress"] == "2 of 2 delivered"
    assert [s["status"] for s in snapshot["shipments"]] == ["delivered", "delivered"]
    assert snapshot["inbox"] == ["processed"] * len(TIMELINE)
    delivery_ids = {entry[7] for entry in snapshot["history"]}
    assert delivery_ids == {_inbox_entry(r).dedupe_key for r in TIMELINE}
    assert run.told == [["shipped", "out_for_delivery", "delivered"]] * 2


def _assert_converged(snapshot: dict, run: Run, in_order: tuple[dict, Run]) -> None:
    expected, in_order_run = in_order
    assert snapshot["order"] == expected["order"]
    assert snapshot["shipments"] == expected["shipments"]
    assert snapshot["history"] == expected["history"]
    assert snapshot["inbox"] == ["processed"] * len(TIMELINE), "nothing left parked or pending"
    assert snapshot["progress"] == "2 of 2 delivered"
    assert len(run.announced) == 2
    for parcel, told in run.announced.items():
        assert told[-1] == "delivered", "each parcel's last news always goes out"
        assert set(told) <= set(in_order_run.announced[parcel])


arrivals = st.lists(st.sampled_from(TIMELINE), max_size=6).flatmap(
    lambda duplicates: st.permutations([*TIMELINE, *duplicates])
)


@CONVERGENCE
@given(arrival=arrivals)
def test_any_arrival_order_with_duplicates_ends_in_the_same_state_and_history(
    template, in_order, arrival
):
    with tempfile.TemporaryDirectory(dir=_SCRATCH) as directory:
        url = _migrated_copy(template, directory)
        snapshot, run = _replay(url, arrival)
        _assert_converged(snapshot, run, in_order)
        # What the reports read, kept event by event, is what the rows say in the end.
        _assert_kept_equals_rebuilt(url, _milestones(url))


def test_a_shuffled_story_with_duplicates_converges_on_postgresql_too(postgres_url, in_order):
    rng = random.Random(1042)
    arrival = [*TIMELINE, *rng.sample(TIMELINE, 5)]
    rng.shuffle(arrival)
    snapshot, run = _replay(postgres_url, arrival)
    assert run.parked > 0, "the shuffle should make some carrier event wait for its fulfillment"
    _assert_converged(snapshot, run, in_order)


def _one_parcel(database_url: str, *names: str) -> tuple[dict, Run]:
    requests = [shopify("orders_create"), shopify("fulfillments_create")]
    return _replay(database_url, [*requests, *(easypost(name) for name in names)])


def _tracking_history(snapshot: dict) -> list[tuple[str, str, str | None]]:
    """(status, raw_status, detail) of each carrier event in the history, oldest first."""
    return [entry[2:5] for entry in snapshot["history"] if entry[1] == "tracking"]


def test_an_older_carrier_event_is_kept_in_history_but_never_moves_the_shipment_back(
    database_url,
):
    snapshot, run = _one_parcel(
        database_url, "tracker_updated__out_for_delivery", "tracker_updated__in_transit"
    )
    (parcel,) = snapshot["shipments"]
    assert (parcel["status"], parcel["raw_status"]) == ("out_for_delivery", "out_for_delivery")
    assert snapshot["order"]["status"] == "out_for_delivery"
    assert _tracking_history(snapshot) == [
        ("in_transit", "in_transit", "received_at_origin_facility"),
        ("out_for_delivery", "out_for_delivery", "out_for_delivery"),
    ]
    assert run.told == [["shipped", "out_for_delivery"]]


def test_a_failed_attempt_after_out_for_delivery_moves_the_order_back_to_in_transit(
    database_url,
):
    snapshot, run = _one_parcel(
        database_url,
        "tracker_updated__in_transit",
        "tracker_updated__out_for_delivery",
        "tracker_updated__failed_attempt",
    )
    (parcel,) = snapshot["shipments"]
    assert (parcel["status"], parcel["detail"]) == ("in_transit", "delivery_exception")
    assert snapshot["order"]["status"] == "in_transit"
    assert [entry[0] for entry in _tracking_history(snapshot)] == [
        "in_transit",
        "out_for_delivery",
        "in_transit",
    ]
    assert run.told == [["shipped", "out_for_delivery"]], "no stale 'shipped' news again"


MILESTONES = {
    Order: ("placed_at", "shipped_at", "first_scan_at", "delivered_at"),
    Shipment: ("first_scan_at", "delivered_at", "first_failed_at", "first_exception_at"),
}


def _milestones(url: str) -> dict:
    """The milestone columns, and every report rollup row that is not zero."""
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        found = {
            model.__name__: sorted(
                session.execute(select(*(getattr(model, c) for c in columns))).all()
            )
            for model, columns in MILESTONES.items()
        }
        for table in rollup_models.TABLES:
            rows = session.execute(select(table.__table__)).all()
            found[table.__tablename__] = sorted(
                tuple(round(v, 9) if isinstance(v, float) else v for v in row)
                for row in rows
                if any(row[len(table.__table__.primary_key.columns) :])
            )
    engine.dispose()
    return found


def test_milestones_and_rollups_kept_as_events_apply_equal_those_rebuilt_from_the_rows(
    postgres_url,
):
    """The reports read milestones and daily rollups kept by the pipeline; migration 0013
    computes them from the history and the rows. Shuffled, with duplicates, both agree."""
    rng = random.Random(7)
    arrival = [*TIMELINE, *rng.sample(TIMELINE, 4)]
    rng.shuffle(arrival)
    _replay(postgres_url, arrival)
    kept = _milestones(postgres_url)
    ((placed, shipped, scanned, delivered),) = kept["Order"]
    assert placed < shipped < scanned < delivered, "every milestone of the story is set"
    assert all(p[0] and p[1] for p in kept["Shipment"]), "both parcels scanned and delivered"
    assert [row[1:] for row in kept["report_order_days"]] == [("delivered", 1)]
    assert len(kept["report_stage_buckets"]) == 4 and len(kept["report_transit_buckets"]) == 2
    _assert_kept_equals_rebuilt(postgres_url, kept)


def _assert_kept_equals_rebuilt(url: str, kept: dict) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        for model, columns in MILESTONES.items():
            connection.execute(model.__table__.update().values(dict.fromkeys(columns)))
        milestones.backfill(connection)
    with make_sessionmaker(engine).begin() as session:
        rollups.rebuild(session)
    engine.dispose()
    assert _milestones(url) == kept
