"""How each new source proves a delivery is its own, at the HTTP edge: the answers a sender
sees (status and JSON body), and that nothing is stored from a delivery that does not prove
itself. The providers' own unit tests cover every variant of each scheme; these check the
receiver honours them with the settings the README lists."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from ordertrack.store.models import Inbox
from tests.support.sources import bigcommerce, shippo, ups, woocommerce
from tests.support.webhooks import request_for


def _stored(service) -> int:
    with service.runtime.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(Inbox)).scalar_one()


def _refused(service, request, status: int, words: str) -> None:
    response = service.post(request)
    assert response.status_code == status, response.json
    assert words in response.json["error"], response.json


def test_woocommerces_ping_on_saving_a_webhook_answers_200_and_stores_nothing(service):
    response = service.post(woocommerce.ping())
    assert (response.status_code, response.json) == (200, {"status": "handshake"})
    assert _stored(service) == 0


def test_a_form_body_that_is_not_the_ping_is_still_refused_415(service):
    ping = woocommerce.ping()
    forged = type(ping)(ping.source, "x", b"webhook_id=12&topic=order.updated", ping.headers)
    _refused(service, forged, 415, "application/json")
    assert _stored(service) == 0


def test_shippo_signed_longer_ago_than_the_tolerance_is_refused_as_a_replay(service):
    stale = shippo.request("track_updated__transit", at=datetime.now(UTC) - timedelta(minutes=6))
    _refused(service, stale, 401, "replay")
    fresh = shippo.request("track_updated__transit")
    assert service.post(fresh).status_code == 202
    assert _stored(service) == 1


def test_shippo_without_its_url_token_is_refused(service):
    _refused(service, shippo.request("track_updated__transit", token=None), 401, "token")
    _refused(service, shippo.request("track_updated__transit", token="guess"), 401, "token")
    assert _stored(service) == 0


def test_shippo_with_only_a_url_token_configured_needs_no_signature(start):
    service = start(WEBHOOK_SECRET_SHIPPO=None)
    unsigned = shippo.request("track_updated__transit", secrets=())
    assert service.post(unsigned).status_code == 202


def test_the_tolerance_is_a_setting(start):
    service = start(WEBHOOK_TOLERANCE_SECONDS="900")
    ten_minutes_ago = datetime.now(UTC) - timedelta(minutes=10)
    assert (
        service.post(shippo.request("track_updated__transit", at=ten_minutes_ago)).status_code
        == 202
    )


def test_bigcommerce_checks_the_header_the_hook_was_created_with(start):
    service = start()
    _refused(service, bigcommerce.request("order_created", token="guess"), 401, "match")
    _refused(
        service,
        bigcommerce.request("order_created", header="X-Other-Header"),
        401,
        "X-Webhook-Token",
    )
    service = start(WEBHOOK_HEADER_BIGCOMMERCE="X-Other-Header")
    assert (
        service.post(bigcommerce.request("order_created", header="X-Other-Header")).status_code
        == 202
    )


def test_ups_checks_the_credential_given_in_the_subscription(service):
    _refused(service, ups.request("track_alert__origin_scan", credential="guess"), 401, "match")
    _refused(service, ups.request("track_alert__origin_scan", credential=None), 401, "missing")
    assert service.post(ups.request("track_alert__origin_scan")).status_code == 202


def test_each_new_source_refuses_a_body_changed_after_signing(service):
    for source, name in [
        ("woocommerce", "order_created"),
        ("aftership", "tracking_update__in_transit"),
        ("shippo", "track_updated__transit"),
        ("fedex", "tracking_event__in_transit"),
    ]:
        signed = request_for(source, name)
        tampered = type(signed)(source, name, signed.body + b" ", signed.headers, signed.query)
        _refused(service, tampered, 401, "match")
    assert _stored(service) == 0


def test_the_header_chosen_to_carry_bigcommerces_shared_value_is_never_stored(start):
    service = start(WEBHOOK_HEADER_BIGCOMMERCE="X-Shared-Value")
    request = bigcommerce.request("order_created", header="X-Shared-Value")
    assert service.post(request).status_code == 202
    with service.runtime.engine.connect() as connection:
        (headers,) = connection.execute(select(Inbox.headers)).scalars()
    assert bigcommerce.SECRET not in str(headers)
    assert "webhook-id" in {name.lower() for name in headers}, "the others are kept"
