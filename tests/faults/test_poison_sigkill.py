"""A poison event, for real: every `ordertrack worker` that takes it is killed with SIGKILL
mid-attempt (as the OOM killer would), and the sweeper keeps handing it out again. After
MAX_ATTEMPTS the claim refuses it: the row is failed, the alert raised, and the next worker
is left alone. PostgreSQL, a private Redis, real worker processes and the sweeper command.
Meanwhile other orders keep arriving, and are applied and emailed once each, round after
round: the poison holds one worker thread at a time, never the queue (fault matrix Q-4).

The event is a BigCommerce callback, whose worker asks BigCommerce's API for the order; the
API (a third party) is a local port that takes the request and never answers, so every
worker that takes the event is mid-attempt, in its transaction, when it is killed."""

import socket

import pytest
from sqlalchemy import select, text

from ordertrack.store.alert_models import Alert
from tests.support.processes import redis_stack, wait_for
from tests.support.queue_faults import post_orders, queued_ids, redeliver_from_dead, unacked_by
from tests.support.webhooks import request_for

MAX_ATTEMPTS = 3  # base_env's
#: Good orders posted in each round, behind the poison.
PER_ROUND = 3


@pytest.fixture
def silent_api():
    """A listening port that never accepts: a connection opens, and no answer ever comes."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.fixture
def stack(postgres_url, base_env, smtp, silent_api, monkeypatch, tmp_path):
    monkeypatch.setenv("BIGCOMMERCE_API_BASE", silent_api)
    monkeypatch.setenv("BIGCOMMERCE_TIMEOUT_SECONDS", "300")
    with redis_stack(postgres_url, tmp_path, monkeypatch) as running:
        yield running


def _poison_id(stack) -> int:
    [row] = [row for row in stack.inbox() if row.source == "bigcommerce"]
    return row.id


def _poison(stack) -> dict:
    [row] = [row for row in stack.inbox() if row.source == "bigcommerce"]
    return {"status": row.status, "attempts": row.attempts, "error": row.last_error}


def _attempt_under_way_or_failed(stack, seen: int) -> dict | None:
    state = _poison(stack)
    if state["status"] == "failed" or (
        state["status"] == "processing" and state["attempts"] > seen
    ):
        return state
    return None


def _in_transaction(stack) -> bool:
    """A worker has the row claimed: its transaction is open while the API is asked."""
    with stack.service.runtime.engine.connect() as connection:
        return bool(
            connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND state = 'idle in transaction'"
                )
            )
        )


def _sent(stack) -> int:
    return sum(row.status == "sent" for row in stack.outbox())


def _messages_for(stack, inbox_id: int) -> list[str]:
    """The broker's ids of the messages for `inbox_id` not yet acknowledged."""
    return [rid for rid, arg in queued_ids(stack, "events").items() if arg == inbox_id]


@pytest.mark.fault("Q-4")
def test_an_event_that_kills_every_worker_taking_it_is_failed_after_max_attempts(
    stack, smtp, figures
):
    worker = stack.worker(threads=2)
    assert stack.service.post(request_for("bigcommerce", "order_updated")).status_code == 202
    poison = _poison_id(stack)
    kills = goods = 0
    while kills <= MAX_ATTEMPTS + 1:
        state = wait_for(
            lambda seen=kills: _attempt_under_way_or_failed(stack, seen),
            timeout=20,
            what=f"attempt {kills + 1} under way, or the row failed",
        )
        # Other orders, behind the poison: the worker's other thread applies and emails them.
        post_orders(stack, range(goods, goods + PER_ROUND))
        goods += PER_ROUND
        wait_for(lambda n=goods: _sent(stack) == n, timeout=30, what=f"{goods} orders emailed")
        if state["status"] == "failed":
            break
        if kills == 0:
            [in_hand] = _messages_for(stack, poison)
            dead = unacked_by(stack, "events", in_hand)
        worker.kill()  # SIGKILL, the whole process group: nothing gets to clean up
        kills += 1
        # The sweeper finds the row unfinished and hands it out again, to the next worker.
        assert stack.sweep_once(SWEEP_AFTER_SECONDS="0") == 1
        worker = stack.worker(threads=2)
        if kills == 1:
            # Dramatiq brings the dead worker's message back too: a second copy, taken by
            # the other thread while the first copy's attempt holds the row. It is left to
            # that attempt at once; waiting for it would leave no thread for anyone else.
            wait_for(lambda: _attempt_under_way_or_failed(stack, 1), timeout=20, what="try 2")
            wait_for(lambda: _in_transaction(stack), timeout=20, what="try 2 to hold the row")
            redeliver_from_dead(stack, "events", dead)
            wait_for(
                lambda rid=in_hand: rid not in _messages_for(stack, poison),
                timeout=10,
                what="the second copy to be taken and let go",
            )
    failed = _poison(stack)
    assert failed["status"] == "failed", f"still handed out after {kills} kills: {failed}"
    assert failed["attempts"] == MAX_ATTEMPTS == kills
    assert "never finished" in failed["error"]
    with stack.service.runtime.sessions() as session:
        alerts = session.scalars(select(Alert).where(Alert.kind == "event_failed")).all()
    assert [(a.detail["topic"], a.detail["attempts"]) for a in alerts] == [
        ("store/order/updated", MAX_ATTEMPTS)
    ]
    assert worker.running(), "the worker that was handed the row again is alive and idle"
    assert stack.sweep_once(SWEEP_AFTER_SECONDS="0") == 0, "nothing left to hand out"
    # I2 for every other event: applied, and each order's email sent exactly once.
    stack.wait_settled()
    assert [row.status for row in stack.inbox()].count("processed") == 2 * goods
    emails = [m["To"] for m in smtp.messages]
    assert len(emails) == len(set(emails)) == goods
    assert {row.status for row in stack.outbox()} == {"sent"}
    figures.add("kills", f"{kills}, then failed at MAX_ATTEMPTS {MAX_ATTEMPTS} with an alert")
    figures.add("other orders", f"{goods} applied and emailed once, {PER_ROUND} per round")
