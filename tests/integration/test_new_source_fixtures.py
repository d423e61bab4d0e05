"""Every fixture of the sources added for issue 3 through the whole service (app, inbox, real
worker, SQLite and PostgreSQL): accepted, processed, never failed. The carriers' parcels belong
to one Shopify order, shipped in four parcels, one per carrier's tracking number, so every
carrier event finds its shipment; the status codes no table maps are listed, raw, by the
admin API. (BigCommerce, whose worker reads a third party's API, has its own end-to-end tests
in test_source_pairs.py and test_bigcommerce_fetch.py.)"""

import json

from sqlalchemy import select

from ordertrack.store.models import Inbox
from tests.support.webhooks import ORDER_ID, Request, fixture_body, fixture_names, request_for

#: The tracking number and carrier of each carrier's story (its fixtures' README).
PARCELS = {
    "aftership": ("9400111899223344550101", "USPS"),
    "shippo": ("9205590164917312751089", "USPS"),
    "ups": ("1Z5338FF0107231059", "UPS"),
    "fedex": ("794644790132", "FedEx"),
}
#: Real topics ordertrack does not use: answered 200 and kept as ignored.
IGNORED = {
    "aftership/edd_revise",
    "aftership/tracking_pending_time",
    "shippo/transaction_created",
}


def _parcels() -> list[Request]:
    requests = [request_for("shopify", "orders_create")]
    for index, (number, carrier) in enumerate(PARCELS.values()):
        fulfillment = json.loads(fixture_body("shopify", "fulfillments_create"))
        fulfillment.update(id=4451234560000 + index, name=f"#1042.{index + 1}")
        fulfillment.update(tracking_company=carrier, tracking_number=number)
        fulfillment.update(tracking_numbers=[number], tracking_url=None, tracking_urls=[])
        body = json.dumps(fulfillment).encode()
        requests.append(
            request_for("shopify", "fulfillments_create", body, webhook_id=f"parcel-{index}")
        )
    return requests


def _post(service, requests: list[Request]) -> dict[str, int]:
    answers = {f"{r.source}/{r.name}": service.post(r).status_code for r in requests}
    service.drain()
    return answers


def test_every_new_source_fixture_is_accepted_processed_and_never_failed(service):
    assert set(_post(service, _parcels()).values()) == {202}
    fixtures = [
        request_for(source, name)
        for source in ("woocommerce", *PARCELS)
        for name in fixture_names(source)
    ]
    assert len(fixtures) == 48

    answers = _post(service, fixtures)

    assert answers == {key: 200 if key in IGNORED else 202 for key in answers}
    with service.runtime.engine.connect() as connection:
        statuses = dict(connection.execute(select(Inbox.id, Inbox.status)).all())
    assert "failed" not in statuses.values()
    assert list(statuses.values()).count("ignored") == len(IGNORED)
    assert "parked" not in statuses.values(), "every carrier event found its parcel"

    order = service.order(ORDER_ID)
    sources = {entry["source_event"]["source"] for entry in order["history"]}
    assert sources == {"shopify", *PARCELS}
    unknown = service.api("/api/v1/unknown-codes").json["unknown_codes"]
    listed = {(code["source"], code["raw_status"]) for code in unknown}
    # Documented codes that say nothing of where a parcel is, kept raw, never applied.
    assert {("aftership", "Pending"), ("aftership", "Expired"), ("shippo", "UNKNOWN")} <= listed
    assert ("ups", "SU") not in listed, "an estimate update is known news, not an unknown code"
