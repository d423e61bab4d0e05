"""The whole path as deployed: webhooks into the app, ids onto a real Redis, a real
`ordertrack worker` process applying them to PostgreSQL and emailing over real SMTP."""

import random

import pytest

from tests.support.processes import redis_stack, wait_for
from tests.support.webhooks import ORDER_ID, STORY

CUSTOMER = "ada@example.com"
#: Subject fragments of the kinds the story can announce, in progress order.
KIND_SUBJECTS = {
    "shipped": "has shipped",
    "out_for_delivery": "is out for delivery",
    "delivered": "was delivered",
}


@pytest.fixture
def stack(postgres_url, base_env, smtp, monkeypatch, tmp_path):
    with redis_stack(postgres_url, tmp_path, monkeypatch) as running:
        yield running


def _kind_of(subject: str) -> str:
    kinds = [kind for kind, fragment in KIND_SUBJECTS.items() if fragment in subject]
    assert len(kinds) == 1, subject
    return kinds[0]


def _text_part(message) -> str:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/plain"]
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


def test_shuffled_story_with_duplicates_through_redis_and_a_worker_process_ends_delivered(
    stack, smtp
):
    stack.worker(threads=4)
    duplicates = random.Random(3).sample(STORY, 4)
    story = STORY + duplicates
    random.Random(11).shuffle(story)

    answers = [(r.name, stack.service.post(r).status_code) for r in story]

    assert sorted(name for name, code in answers if code == 202) == sorted(r.name for r in STORY)
    assert sorted(name for name, code in answers if code == 200) == sorted(
        r.name for r in duplicates
    )

    def delivered():
        response = stack.service.api(f"/api/v1/orders/shopify/{ORDER_ID}")
        return response.status_code == 200 and response.json["status"] == "delivered"

    wait_for(delivered, timeout=30, what="the order to be delivered")
    stack.wait_settled()
    order = stack.service.order(ORDER_ID)
    assert order["progress"] == "2 of 2 delivered"
    assert [s["status"] for s in order["shipments"]] == ["delivered", "delivered"]
    assert {row.status for row in stack.inbox()} == {"processed"}
    assert len(stack.inbox()) == len(STORY)

    notifications = order["notifications"]
    sent = sorted(n["kind"] for n in notifications if n["status"] == "sent")
    emails = smtp.to(CUSTOMER)
    assert sorted(_kind_of(m["Subject"]) for m in emails) == sent, "one email per sent kind"
    assert "delivered" in sent
    assert "shipped" in {n["kind"] for n in notifications}
    assert len({m["Message-ID"] for m in emails}) == len(emails)
    for skipped in (n for n in notifications if n["status"] != "sent"):
        assert skipped["status"] == "skipped", skipped
        assert skipped["reason"].startswith("stale:"), skipped
    # Each email shows the order as it stood when it was sent: no "on its way" news about an
    # order whose parcels had both arrived already.
    for message in emails:
        if _kind_of(message["Subject"]) != "delivered":
            assert "2 of 2 delivered" not in _text_part(message), message["Subject"]
