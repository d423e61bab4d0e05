"""Replay (issue 10): one code path for the API and the CLI. Replaying is applying again, so
it converges: a processed webhook changes nothing, a failed one is processed, on both
databases."""

from sqlalchemy import select, update

from entry import cli
from ordertrack.store.models import Inbox
from tests.support.webhooks import ORDER_ID, STORY, shopify

CUSTOMER = "ada@example.com"


def _post(service, *requests) -> None:
    for request in requests:
        assert service.post(request).status_code == 202, request.name
    service.drain()


def _inbox(service) -> list[Inbox]:
    with service.runtime.sessions() as session:
        return list(session.scalars(select(Inbox).order_by(Inbox.id)))


def _fail(service, inbox_id: int) -> None:
    """The row as a worker leaves it after its last attempt failed."""
    with service.runtime.sessions.begin() as session:
        session.execute(
            update(Inbox)
            .where(Inbox.id == inbox_id)
            .values(status="failed", attempts=8, last_error="OperationalError", processed_at=None)
        )


def _replay(service, **body):
    return service.client.post(
        "/api/v1/replay", json=body, headers={"Authorization": "Bearer test-api-token"}
    )


def test_replaying_processed_webhooks_changes_nothing(service, smtp):
    _post(service, *STORY)
    before = service.order(ORDER_ID)
    emails = len(smtp.messages)
    response = _replay(service, status="processed")
    assert response.status_code == 202
    assert response.json["count"] == len(STORY) and not response.json["dry_run"]
    service.drain()
    after = service.order(ORDER_ID)
    assert after == before, "same state, history, notifications and last change"
    assert len(smtp.messages) == emails, "nothing sent twice"
    assert {row.status for row in _inbox(service)} == {"processed"}


def test_a_failed_webhook_replayed_by_id_is_processed(service):
    _post(service, shopify("orders_create"))
    (row,) = _inbox(service)
    _fail(service, row.id)
    dry = _replay(service, ids=[row.id], dry_run=True)
    assert dry.json == {"count": 1, "ids": [row.id], "dry_run": True}
    assert _inbox(service)[0].status == "failed", "a dry run changes nothing"
    assert _replay(service, ids=[row.id]).json["count"] == 1
    service.drain()
    (row,) = _inbox(service)
    assert (row.status, row.attempts, row.last_error) == ("processed", 1, None)


def test_a_filter_names_what_to_replay_and_a_replay_names_something(service):
    _post(service, shopify("orders_create"), shopify("orders_paid"))
    _, second = _inbox(service)
    _fail(service, second.id)
    assert _replay(service, status="failed", source="shopify").json["ids"] == [second.id]
    assert _replay(service, status="failed", source="easypost").json["count"] == 0
    for body, says in [
        ({}, "name the webhooks"),
        ({"status": "ignored"}, "status must be one of"),
        ({"ids": ["1"]}, "ids must be"),
        ({"since": "last week"}, "since must be"),
    ]:
        response = _replay(service, **body)
        assert response.status_code == 400 and says in response.json["error"], body


def test_the_cli_replays_with_progress_and_a_dry_run_first(service, capsys, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    _post(service, shopify("orders_create"))
    (row,) = _inbox(service)
    _fail(service, row.id)
    assert cli.main(["replay", "--status", "failed", "--dry-run"]) == 0
    assert f"would replay 1 webhook: {row.id}" in capsys.readouterr().out
    assert _inbox(service)[0].status == "failed"
    # No REDIS_URL: the command runs the queue itself until it is done.
    assert cli.main(["replay", "--id", str(row.id)]) == 0
    out = capsys.readouterr().out
    assert "replayed 1/1" in out and f"replayed 1 webhook: {row.id}" in out
    assert _inbox(service)[0].status == "processed"


def test_the_cli_refuses_a_replay_that_names_nothing(service, capsys):
    assert cli.main(["replay"]) == 2
    assert "name the webhooks to replay" in capsys.readouterr().err
