"""Nothing secret or personal reaches the logs: not the customer's address or phone, not a
webhook secret, not a signature, not the API token (docs/faults.md, LOG-1)."""

import logging

from tests.support.webhooks import SECRETS, STORY, shopify


def test_a_whole_story_with_failures_logs_no_secret_and_no_personal_data(service, smtp, caplog):
    caplog.set_level(logging.DEBUG)
    smtp.scripted["ada@example.com"] = ["451 4.3.0 ada@example.com is busy"]  # a retry
    forged = shopify("orders_create", webhook_id="forged")
    forged.headers["X-Shopify-Hmac-Sha256"] = "AAAA" + forged.headers["X-Shopify-Hmac-Sha256"][4:]
    assert service.post(forged).status_code == 401
    for request in STORY:
        service.post(request)
    service.drain()
    assert service.api("/api/v1/orders/shopify/5531234567890").status_code == 200

    # The SMTP server is the test's peer, not the service: its own chatter is not ours.
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in ours)
    assert "transient failure, will retry" in logged, "the failed send was logged, sanitized"
    secrets = [*SECRETS.values(), "test-api-token"]
    signatures = [
        r.headers.get("X-Shopify-Hmac-Sha256") or r.headers.get("X-Hmac-Signature") for r in STORY
    ]
    personal = ["ada@example.com", "+15555550142", "Lovelace"]
    for needle in secrets + signatures + personal:
        assert needle not in logged, f"{needle!r} was logged"
