"""A poison event, for real: every `ordertrack worker` that takes it is killed with SIGKILL
mid-attempt (as the OOM killer would), and the sweeper keeps handing it out again. After
MAX_ATTEMPTS the claim refuses it: the row is failed, the alert raised, and the next worker
is left alone. PostgreSQL, a private Redis, real worker processes and the sweeper command.

The event is a BigCommerce callback, whose worker asks BigCommerce's API for the order; the
API (a third party) is a local port that takes the request and never answers, so every
worker that takes the event is mid-attempt, in its transaction, when it is killed."""

import socket

import pytest
from sqlalchemy import select

from ordertrack.store.alert_models import Alert
from tests.support.processes import redis_stack, wait_for
from tests.support.webhooks import request_for

MAX_ATTEMPTS = 3  # base_env's


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


def _poison(stack) -> dict:
    [row] = stack.inbox()
    return {"status": row.status, "attempts": row.attempts, "error": row.last_error}


def _attempt_under_way_or_failed(stack, seen: int) -> dict | None:
    state = _poison(stack)
    if state["status"] == "failed" or (
        state["status"] == "processing" and state["attempts"] > seen
    ):
        return state
    return None


def test_an_event_that_kills_every_worker_taking_it_is_failed_after_max_attempts(stack):
    worker = stack.worker(threads=1)
    assert stack.service.post(request_for("bigcommerce", "order_updated")).status_code == 202
    kills = 0
    while kills <= MAX_ATTEMPTS + 1:
        state = wait_for(
            lambda seen=kills: _attempt_under_way_or_failed(stack, seen),
            timeout=20,
            what=f"attempt {kills + 1} under way, or the row failed",
        )
        if state["status"] == "failed":
            break
        worker.kill()  # SIGKILL, the whole process group: nothing gets to clean up
        kills += 1
        # The sweeper finds the row unfinished and hands it out again, to the next worker.
        assert stack.sweep_once(SWEEP_AFTER_SECONDS="0") == 1
        worker = stack.worker(threads=1)
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
