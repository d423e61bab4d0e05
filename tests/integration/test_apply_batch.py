"""Several inbox rows applied per transaction (ordertrack/apply_batch.py), on PostgreSQL: each
row ends as it would applied alone, a failing row costs the others nothing, a row another
worker holds is left to it, and the day rollups count each applied row once.

The rows are committed as the receiver commits them (`store.inbox.record`) and applied with
`apply_rows` in this thread, as the worker's group applier calls it. Whether rows shared a
transaction is read from PostgreSQL itself: rows updated by one transaction share its `xmin`.
BigCommerce's API is played by `responses` (third-party HTTP only)."""

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import responses
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.datastructures import Headers

from ordertrack import pipeline
from ordertrack.apply_batch import RowOutcome, apply_rows
from ordertrack.errors import MissingFields
from ordertrack.providers import shopify as shopify_provider
from ordertrack.providers.base import WebhookRequest
from ordertrack.settings import Settings
from ordertrack.store import rollup_models, rollups
from ordertrack.store.alert_models import Alert
from ordertrack.store.db import make_engine, make_sessionmaker
from ordertrack.store.inbox import NewInboxRow, record
from ordertrack.store.models import History, Inbox, InboxStatus, Order, Outbox, Shipment
from tests.conftest import _postgres_database
from tests.support.sources.bigcommerce import ACCESS_TOKEN, STORE_HASH, api_body, api_url
from tests.support.webhooks import (
    ORDER_ID,
    STORY,
    Request,
    fixture_body,
    request_for,
    shopify,
)

MAX_ATTEMPTS = 3
SETTINGS = Settings(
    max_attempts=MAX_ATTEMPTS,
    notify_coalesce_seconds=0,
    bigcommerce_access_token=ACCESS_TOKEN,
    bigcommerce_store_hash=STORE_HASH,
    bigcommerce_api_base="https://api.bigcommerce.com",
)


@dataclass
class Db:
    engine: Engine
    sessions: sessionmaker[Session]

    def store(self, *deliveries: NewInboxRow) -> list[int]:
        """Commit the rows as the receiver does; their ids, in order."""
        with self.engine.begin() as connection:
            ids = record(connection, list(deliveries))
        assert None not in ids, "each delivery is new"
        return ids

    def apply(self, ids: list[int]) -> dict[int, RowOutcome]:
        return apply_rows(self.sessions, ids, SETTINGS)

    def inbox(self) -> dict[int, Inbox]:
        with self.sessions() as session:
            return {row.id: row for row in session.scalars(select(Inbox))}

    def xmin(self) -> dict[int, str]:
        """Each inbox row's last writing transaction."""
        with self.engine.connect() as connection:
            return dict(connection.execute(text("SELECT id, xmin::text FROM inbox")).all())

    def history_by_row(self) -> dict[int, list[tuple]]:
        with self.sessions() as session:
            rows = session.execute(
                select(History.inbox_id, History.fact_index, History.kind, History.status)
            ).all()
        found: dict[int, list[tuple]] = {}
        for inbox_id, *entry in sorted(rows):
            found.setdefault(inbox_id, []).append(tuple(entry))
        return found


def _db(url: str) -> Iterator[Db]:
    engine = make_engine(url)
    try:
        yield Db(engine, make_sessionmaker(engine))
    finally:
        engine.dispose()


@pytest.fixture
def db(postgres_url) -> Iterator[Db]:
    yield from _db(postgres_url)


@pytest.fixture
def other_db() -> Iterator[Db]:
    """A second fresh database, for applying the same rows another way."""
    for url in _postgres_database():
        yield from _db(url)


# --- Rows


def _delivery(request: Request, dedupe_key: str | None = None) -> NewInboxRow:
    """The inbox row the receiver commits for this request; the topic is read from the
    request itself, not through the provider module."""
    body = json.loads(request.body)
    if request.source == "shopify":
        topic, key = request.headers["X-Shopify-Topic"], request.headers["X-Shopify-Webhook-Id"]
    elif request.source == "bigcommerce":
        topic, key = body["scope"], body["hash"]
    else:
        topic, key = body["description"], body["id"]
    headers = dict(request.headers)
    return NewInboxRow(request.source, dedupe_key or key, topic, headers, request.body, True)


def _edited(name: str, edit) -> bytes:
    payload = json.loads(fixture_body("shopify", name))
    edit(payload)
    return json.dumps(payload).encode()


def _order_created(n: int) -> NewInboxRow:
    """Order #2000+n, placed on 2026-11-0(1+n)."""

    def edit(order: dict) -> None:
        order.update(id=int(ORDER_ID) + n, name=f"#{2000 + n}", order_number=2000 + n)
        order["created_at"] = order["processed_at"] = f"2026-11-0{1 + n}T04:00:00-05:00"

    return _delivery(shopify("orders_create", _edited("orders_create", edit)), f"create-{n}")


def _fulfilled(n: int) -> NewInboxRow:
    """Order #2000+n's parcel handed to USPS, tracking number of its own."""
    number = f"94001118992233445566{n:02d}"

    def edit(fulfillment: dict) -> None:
        fulfillment.update(order_id=int(ORDER_ID) + n, id=4451234567890 + n, name=f"#{2000 + n}.1")
        fulfillment.update(tracking_number=number, tracking_numbers=[number])

    body = _edited("fulfillments_create", edit)
    return _delivery(shopify("fulfillments_create", body), f"fulfil-{n}")


def _paid(n: int, dedupe_key: str) -> NewInboxRow:
    """orders/paid for order #2000+n."""

    def edit(order: dict) -> None:
        order.update(id=int(ORDER_ID) + n, name=f"#{2000 + n}", order_number=2000 + n)

    return _delivery(shopify("orders_paid", _edited("orders_paid", edit)), dedupe_key)


def _unusable_payment(n: int) -> NewInboxRow:
    """orders/paid for order #2000+n whose `updated_at` is no time: the receiver's edge check
    lets it in (it reads required fields only), normalize() refuses it with MissingFields."""

    def edit(order: dict) -> None:
        order.update(id=int(ORDER_ID) + n, name=f"#{2000 + n}", updated_at="yesterday")

    request = shopify("orders_paid", _edited("orders_paid", edit))
    payload = json.loads(request.body)
    delivery = WebhookRequest(body=request.body, headers=Headers(request.headers), query={})
    shopify_provider.envelope(delivery, payload)  # the receiver would have stored it
    return _delivery(request, f"paid-broken-{n}")


# --- What the rows say


def _rollups(session: Session) -> dict[str, list[tuple]]:
    """Every report rollup row that is not zero."""
    found = {}
    for table in rollup_models.TABLES:
        width = len(table.__table__.primary_key.columns)
        rows = session.execute(select(table.__table__)).all()
        found[table.__tablename__] = sorted(
            tuple(round(v, 9) if isinstance(v, float) else v for v in row)
            for row in rows
            if any(row[width:])
        )
    return found


def _kept_equals_rebuilt(db: Db) -> dict[str, list[tuple]]:
    """The rollups as the pipeline kept them, checked against `rollups.rebuild` over the same
    rows (rolled back afterwards: the database is left as it was)."""
    with db.sessions() as session:
        kept = _rollups(session)
        rollups.rebuild(session)
        rebuilt = _rollups(session)
        session.rollback()
    assert kept == rebuilt
    return kept


def _orders_counted(kept: dict[str, list[tuple]]) -> int:
    return sum(row[-1] for row in kept["report_order_days"])


def _order_statuses(db: Db) -> dict[str, str]:
    with db.sessions() as session:
        return dict(session.execute(select(Order.name, Order.status)).all())


def _outbox(db: Db) -> list[tuple]:
    with db.sessions() as session:
        rows = session.execute(
            select(Order.name, Outbox.parcel, Outbox.kind, Outbox.channel, Outbox.status)
            .join(Order, Order.id == Outbox.order_id)
            .order_by(Outbox.id)
        )
        return [tuple(row) for row in rows]


def _applied(outcome: RowOutcome) -> bool:
    return (
        outcome.start is pipeline.Start.STARTED
        and outcome.error is None
        and outcome.processed is not None
        and outcome.processed.applied is not None
    )


# --- Several orders in one transaction


def test_a_batch_of_rows_of_different_orders_is_applied_in_one_transaction(db):
    ids = db.store(_order_created(1), _order_created(2), _fulfilled(1), _order_created(3))
    before = db.xmin()

    outcomes = db.apply(ids)

    assert sorted(outcomes) == ids
    assert all(_applied(outcomes[i]) for i in ids), outcomes
    inbox = db.inbox()
    assert [(inbox[i].status, inbox[i].attempts) for i in ids] == [("processed", 1)] * 4
    written = db.xmin()
    assert len({written[i] for i in ids}) == 1, "one transaction applied them all"
    assert written[ids[0]] not in before.values()
    assert _order_statuses(db) == {"#2001": "shipped", "#2002": "received", "#2003": "received"}
    history = db.history_by_row()
    assert sorted(history) == ids, "every row is in the history"
    assert history[ids[2]][0][1:] == ("fulfillment", "fulfilled")
    # What each outcome queued is what the outbox holds.
    with db.sessions() as session:
        outbox_ids = set(session.scalars(select(Outbox.id)))
    queued = {q.id for i in ids for q in outcomes[i].processed.notifications}
    assert queued == outbox_ids and queued, "the fulfillment queued its shipping news"
    kept = _kept_equals_rebuilt(db)
    assert _orders_counted(kept) == 3
    assert [row[1:] for row in kept["report_parcel_days"]] == [
        ("usps", "US", "NY", 1, 0, 0, 0, 0, 0)
    ]


@pytest.mark.parametrize("broken_at", [0, 1, 3], ids=["first", "between", "last"])
def test_a_row_that_fails_is_its_own_outcome_and_the_others_commit_counted_once(db, broken_at):
    good = [_order_created(1), _fulfilled(1), _order_created(2)]
    ids = db.store(*good[:broken_at], _unusable_payment(4), *good[broken_at:])
    broken = ids[broken_at]
    others = [i for i in ids if i != broken]

    outcomes = db.apply(ids)

    assert isinstance(outcomes[broken].error, MissingFields)
    assert outcomes[broken].processed is None
    assert all(_applied(outcomes[i]) for i in others), outcomes
    inbox = db.inbox()
    assert (inbox[broken].status, inbox[broken].attempts) == ("processing", 1)
    assert [(inbox[i].status, inbox[i].attempts) for i in others] == [("processed", 1)] * 3
    written = db.xmin()
    assert len({written[i] for i in others}) == 1, "the others share one transaction"
    assert sorted(db.history_by_row()) == others, "nothing of the broken row is written"
    assert _order_statuses(db) == {"#2001": "shipped", "#2002": "received"}
    kept = _kept_equals_rebuilt(db)
    assert _orders_counted(kept) == 2, "the rolled back first try is not counted"


def test_two_failing_rows_each_get_their_own_error_and_the_rest_still_commit(db):
    ids = db.store(_unusable_payment(5), _order_created(1), _unusable_payment(6), _order_created(2))

    outcomes = db.apply(ids)

    assert [type(outcomes[i].error) for i in ids] == [MissingFields, type(None)] * 2
    assert outcomes[ids[0]].error is not outcomes[ids[2]].error
    assert _applied(outcomes[ids[1]]) and _applied(outcomes[ids[3]])
    inbox = db.inbox()
    assert [inbox[i].status for i in ids] == ["processing", "processed"] * 2
    assert _orders_counted(_kept_equals_rebuilt(db)) == 2


def test_a_row_whose_write_the_database_refuses_fails_alone(db):
    """A failure inside PostgreSQL aborts the transaction: the others are applied again."""
    created = db.store(_order_created(1), _order_created(2))
    db.apply(created)
    with db.engine.begin() as connection:
        connection.execute(text(REFUSE_ORDER_2002))
    ids = db.store(_paid(1, "paid-1"), _paid(2, "paid-2"), _order_created(3))

    outcomes = db.apply(ids)

    assert "injected fault" in str(outcomes[ids[1]].error)
    assert _applied(outcomes[ids[0]]) and _applied(outcomes[ids[2]])
    inbox = db.inbox()
    assert [inbox[i].status for i in ids] == ["processed", "processing", "processed"]
    assert _order_statuses(db) == {"#2001": "processing", "#2002": "received", "#2003": "received"}
    assert _orders_counted(_kept_equals_rebuilt(db)) == 3


REFUSE_ORDER_2002 = """
CREATE FUNCTION refuse_2002() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'injected fault: order #2002 is read-only'; END $$;
CREATE TRIGGER refuse_2002 BEFORE UPDATE ON orders
FOR EACH ROW WHEN (NEW.name = '#2002') EXECUTE FUNCTION refuse_2002();
"""


# --- One order's rows together


def test_rows_of_one_order_in_one_batch_end_as_applied_one_at_a_time(db, other_db):
    """Order #1042's story up to a parcel delivered, as one batch here and row by row
    there: the same order, parcels, history, outbox and rollups."""
    story = [_delivery(request) for request in STORY[:9]]
    batched = db.store(*story)
    alone = other_db.store(*story)

    outcomes = db.apply(batched)
    for inbox_id in alone:
        assert _applied(other_db.apply([inbox_id])[inbox_id])

    assert all(_applied(outcomes[i]) for i in batched), outcomes
    assert len(set(db.xmin().values())) == 1, "the whole story in one transaction"
    assert _state(db) == _state(other_db)
    assert _state(db)["order"]["status"] == "in_transit"
    assert _kept_equals_rebuilt(db) == _kept_equals_rebuilt(other_db)
    assert _outbox(db) == _outbox(other_db)
    assert {row[2] for row in _outbox(db)} >= {"shipped", "delivered"}


def _columns(row, skip: set[str]) -> dict:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in skip}


def _state(db: Db) -> dict:
    """The order, its parcels and its history, without ids and the times of writing."""
    with db.sessions() as session:
        (order,) = session.scalars(select(Order)).all()
        parcels = session.scalars(select(Shipment).order_by(Shipment.key)).all()
        history = session.execute(
            select(
                Inbox.dedupe_key,
                History.fact_index,
                History.kind,
                History.status,
                History.raw_status,
                History.detail,
                History.shipment_key,
                History.occurred_at,
            ).join(Inbox, Inbox.id == History.inbox_id)
        ).all()
        return {
            "order": _columns(order, {"id", "created_at", "updated_at"}),
            "parcels": [_columns(p, {"id", "order_id"}) for p in parcels],
            "history": sorted(tuple(entry) for entry in history),
            "inbox": sorted(session.execute(select(Inbox.dedupe_key, Inbox.status)).all()),
        }


# --- Rows another worker holds, rows whose attempts are used up


def test_a_row_another_transaction_holds_is_left_to_it_and_the_others_apply(db):
    ids = db.store(_order_created(1), _order_created(2), _order_created(3))
    held = ids[1]
    with db.engine.connect() as other_worker, other_worker.begin():
        other_worker.execute(text("SELECT id FROM inbox WHERE id = :id FOR UPDATE"), {"id": held})
        outcomes = db.apply(ids)
        assert db.inbox()[held].attempts == 0, "the holder has not committed anything"

    assert outcomes[held].start is pipeline.Start.NOTHING_TO_DO
    assert (outcomes[held].processed, outcomes[held].error) == (None, None)
    assert all(_applied(outcomes[i]) for i in ids if i != held)
    inbox = db.inbox()
    assert (inbox[held].status, inbox[held].attempts) == ("pending", 0)
    assert [inbox[i].status for i in ids if i != held] == ["processed"] * 2
    assert _order_statuses(db) == {"#2001": "received", "#2003": "received"}
    assert _orders_counted(_kept_equals_rebuilt(db)) == 2


def test_the_attempt_cap_holds_for_each_row_of_a_batch(db):
    """A `processing` row whose attempts are used up (the last ones never finished) is
    refused, failed and alerted; a `processing` row with attempts left, a pending row and a
    parked one start; a processed row has nothing to do."""
    used_up, retried, pending, done, parked = db.store(
        _order_created(1),
        _order_created(2),
        _order_created(3),
        _order_created(4),
        _delivery(request_for("easypost", "tracker_updated__in_transit")),
    )
    assert _applied(db.apply([done])[done])
    assert db.apply([parked])[parked].processed.applied is None, "no fulfillment names it yet"
    with db.sessions.begin() as session:
        for inbox_id, attempts in ((used_up, MAX_ATTEMPTS), (retried, MAX_ATTEMPTS - 1)):
            session.execute(
                update(Inbox)
                .where(Inbox.id == inbox_id)
                .values(status=InboxStatus.PROCESSING, attempts=attempts)
            )

    outcomes = db.apply([used_up, retried, pending, done, parked])

    assert {i: o.start for i, o in outcomes.items()} == {
        used_up: pipeline.Start.GAVE_UP,
        retried: pipeline.Start.STARTED,
        pending: pipeline.Start.STARTED,
        done: pipeline.Start.NOTHING_TO_DO,
        parked: pipeline.Start.STARTED,
    }
    assert outcomes[used_up].processed is None and outcomes[used_up].error is None
    assert _applied(outcomes[retried]) and _applied(outcomes[pending])
    inbox = db.inbox()
    assert (inbox[used_up].status, inbox[used_up].attempts) == ("failed", MAX_ATTEMPTS)
    assert "never finished" in inbox[used_up].last_error
    assert (inbox[retried].status, inbox[retried].attempts) == ("processed", MAX_ATTEMPTS)
    assert (inbox[pending].status, inbox[pending].attempts) == ("processed", 1)
    assert (inbox[done].status, inbox[done].attempts) == ("processed", 1)
    assert (inbox[parked].status, inbox[parked].attempts) == ("parked", 2)
    with db.sessions() as session:
        alerts = session.scalars(select(Alert.detail).where(Alert.kind == "event_failed")).all()
    assert [(a["inbox_id"], a["attempts"], a["reason"]) for a in alerts] == [
        (used_up, MAX_ATTEMPTS, "AttemptsExhausted")
    ]
    assert _order_statuses(db) == {f"#{2000 + n}": "received" for n in (2, 3, 4)}


# --- Two batches at once


def test_two_batches_that_meet_the_same_orders_in_opposite_orders_both_apply_every_row(db):
    """Batches run side by side (two lanes per process, several processes). Each takes its
    rows' order locks one row at a time, in inbox id order: batch X [order 1, order 2] and
    batch Y [order 2, order 1] wait on each other. Neither row is at fault; a row applied
    alone never meets this, so no row may be reported failed for it.

    Made deterministic with a third connection holding order 2: Y waits for it first, X
    then takes order 1 and queues behind Y; released, Y gets order 2 and waits for order 1."""
    db.apply(db.store(_order_created(1), _order_created(2)))
    x_first, x_second, y_first, y_second = db.store(
        _paid(1, "x-1"), _paid(2, "x-2"), _paid(2, "y-2"), _paid(1, "y-1")
    )
    results: dict[str, dict[int, RowOutcome]] = {}

    def run(name: str, ids: list[int]) -> threading.Thread:
        thread = threading.Thread(target=lambda: results.update({name: db.apply(ids)}))
        thread.start()
        return thread

    with db.engine.connect() as holder, holder.begin():
        holder.execute(text("SELECT id FROM orders WHERE name = '#2002' FOR UPDATE"))
        y = run("y", [y_first, y_second])
        _until_waiting_on_locks(db, 1)
        x = run("x", [x_first, x_second])
        _until_waiting_on_locks(db, 2)
    for thread in (x, y):
        thread.join(timeout=10)
        assert not thread.is_alive()

    outcomes = results["x"] | results["y"]
    errors = {i: repr(o.error) for i, o in outcomes.items() if o.error is not None}
    assert errors == {}, "a deadlock between two batches is reported as a row's failure"
    assert all(_applied(o) for o in outcomes.values())
    assert _order_statuses(db) == {"#2001": "processing", "#2002": "processing"}


def _until_waiting_on_locks(db: Db, count: int) -> None:
    """Until `count` sessions of this database wait on a lock (pg_stat_activity)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 5
    with db.engine.connect() as connection:
        while connection.execute(query).scalar() < count:
            assert time.monotonic() < deadline, f"{count} sessions never waited on a lock"
            time.sleep(0.01)
            connection.rollback()


# --- A source that asks its API


def test_a_row_whose_source_fetches_from_its_api_is_applied_in_a_transaction_of_its_own(db):
    fetching = _delivery(request_for("bigcommerce", "order_created"))
    first, fetched, last = db.store(_order_created(1), fetching, _order_created(2))
    with responses.RequestsMock(assert_all_requests_are_fired=True) as api:
        api.get(api_url("/orders/3001"), json=api_body("order_3001__awaiting_fulfillment"))
        api.get(api_url("/orders/3001/products"), json=api_body("order_3001_products"))
        api.get(api_url("/orders/3001/shipments"), status=204)
        outcomes = db.apply([first, fetched, last])

    assert all(_applied(o) for o in outcomes.values()), outcomes
    written = db.xmin()
    assert written[first] == written[last] != written[fetched]
    with db.sessions() as session:
        platforms = session.execute(select(Order.platform, func.count()).group_by(Order.platform))
        assert dict(platforms.all()) == {"shopify": 2, "bigcommerce": 1}
    assert _orders_counted(_kept_equals_rebuilt(db)) == 3


def test_an_attempt_counted_before_the_work_survives_the_work_failing(db):
    """The attempt is committed first: a row whose work fails has still counted it."""
    (broken,) = db.store(_unusable_payment(1))
    for attempt in (1, 2):
        outcome = db.apply([broken])[broken]
        assert isinstance(outcome.error, MissingFields)
        assert db.inbox()[broken].attempts == attempt
