"""EasyPost provider, pure: every fixture through `check_webhook` (verify -> envelope ->
normalize), every documented tracker status and status_detail against tables written from the
documentation, and the ways a delivery is refused. No database, no app."""

import hashlib
import hmac
import json
import unicodedata
from dataclasses import replace
from datetime import date, datetime

import pytest
from werkzeug.datastructures import Headers

from ordertrack.errors import BadSignature, MissingFields, UnknownTopic
from ordertrack.facts import ShipmentRef, TrackingFact
from ordertrack.providers.base import Envelope, WebhookRequest
from ordertrack.providers.easypost.tables import STATUSES
from ordertrack.statuses import ShipmentStatus
from tests.support import check_webhook as webhook
from tests.support.check_webhook import check_webhook, edited, edited_fact, envelope_of, utc
from tests.support.sources.easypost import SECRET, signature
from tests.support.webhooks import FIXTURES

# --- Documentation tables (docs.easypost.com Trackers; sources in tests/fixtures/README.md).
# Written from the documented meaning of each code, not from ordertrack's table.

#: Tracker `status`: all 10 documented values.
DOCUMENTED_STATUSES = {
    "unknown": ShipmentStatus.UNKNOWN,  # no information yet: kept, never applied
    "pre_transit": ShipmentStatus.LABEL_CREATED,  # label created, carrier lacks the parcel
    "in_transit": ShipmentStatus.IN_TRANSIT,
    "out_for_delivery": ShipmentStatus.OUT_FOR_DELIVERY,
    "delivered": ShipmentStatus.DELIVERED,
    "available_for_pickup": ShipmentStatus.AVAILABLE_FOR_PICKUP,
    "return_to_sender": ShipmentStatus.RETURNED,
    "failure": ShipmentStatus.EXCEPTION,  # failed for good: lost, damaged, undeliverable
    "cancelled": ShipmentStatus.CANCELLED,
    "error": ShipmentStatus.UNKNOWN,  # the carrier's tracking failed: says nothing of the parcel
}

#: Tracker `status_detail`: all 28 documented values.
DOCUMENTED_STATUS_DETAILS = (
    "address_correction",
    "arrived_at_destination",
    "arrived_at_facility",
    "arrived_at_pickup_location",
    "awaiting_information",
    "cancelled",
    "damaged",
    "delayed",
    "delivery_exception",
    "departed_facility",
    "departed_origin_facility",
    "expired",
    "failure",
    "held",
    "in_transit",
    "label_created",
    "lost",
    "missorted",
    "out_for_delivery",
    "received_at_destination_facility",
    "received_at_origin_facility",
    "refused",
    "return",
    "status_update",
    "transferred_to_destination_carrier",
    "transit_exception",
    "unknown",
    "weather_delay",
)

# --- The story (tests/fixtures/README.md)

USPS_NUMBER, UPS_NUMBER = "9400111899223344556677", "1Z999AA10123456784"
PARCEL_1, PARCEL_2 = (
    ShipmentRef(tracking_number=USPS_NUMBER, carrier="USPS"),
    ShipmentRef(tracking_number=UPS_NUMBER, carrier="UPS"),
)


def usps(
    status: ShipmentStatus,
    raw: str,
    detail: str,
    at: datetime,
    message: str,
    est: date | None = date(2026, 11, 4),
) -> TrackingFact:
    return TrackingFact(PARCEL_1, status, at, raw, detail, message, "USPS", est)


def ups(status: ShipmentStatus, raw: str, detail: str, at: datetime, message: str):
    return TrackingFact(PARCEL_2, status, at, raw, detail, message, "UPS", date(2026, 11, 5))


def in_transit_with(**tracker) -> TrackingFact:
    """The one fact of the in-transit update, its tracker changed."""
    name = "tracker_updated__in_transit"
    return edited_fact("easypost", name, lambda event: event["result"].update(tracker))


# --- One test per fixture


def test_tracker_created_is_the_usps_label_at_1405():
    label = usps(
        ShipmentStatus.LABEL_CREATED,
        "pre_transit",
        "label_created",
        utc(2, 14, 5),
        "Shipping Label Created, USPS Awaiting Item",
    )
    check_webhook("easypost", "tracker_created", [label], topic="tracker.created")


def test_tracker_updated_in_transit_is_usps_accepted_at_origin_at_0800():
    scan = usps(
        ShipmentStatus.IN_TRANSIT,
        "in_transit",
        "received_at_origin_facility",
        utc(3, 8),
        "Accepted at USPS Origin Facility",
    )
    check_webhook("easypost", "tracker_updated__in_transit", [scan], topic="tracker.updated")


def test_tracker_updated_out_for_delivery_is_usps_on_the_van_at_0730():
    scan = usps(
        ShipmentStatus.OUT_FOR_DELIVERY,
        "out_for_delivery",
        "out_for_delivery",
        utc(4, 7, 30),
        "Out for Delivery, Expected Delivery by 9:00pm",
    )
    check_webhook("easypost", "tracker_updated__out_for_delivery", [scan], topic="tracker.updated")


def test_tracker_updated_delivered_is_usps_delivered_at_1512():
    scan = usps(
        ShipmentStatus.DELIVERED,
        "delivered",
        "arrived_at_destination",
        utc(4, 15, 12),
        "Delivered, In/At Mailbox",
    )
    check_webhook("easypost", "tracker_updated__delivered", [scan], topic="tracker.updated")


def test_tracker_updated_parcel2_in_transit_is_ups_origin_scan_at_0900():
    scan = ups(
        ShipmentStatus.IN_TRANSIT,
        "in_transit",
        "received_at_origin_facility",
        utc(3, 9),
        "Origin Scan",
    )
    check_webhook(
        "easypost", "tracker_updated__parcel2_in_transit", [scan], topic="tracker.updated"
    )


def test_tracker_updated_parcel2_out_for_delivery_is_ups_on_the_van_at_0700():
    scan = ups(
        ShipmentStatus.OUT_FOR_DELIVERY,
        "out_for_delivery",
        "out_for_delivery",
        utc(5, 7),
        "Out For Delivery Today",
    )
    check_webhook(
        "easypost", "tracker_updated__parcel2_out_for_delivery", [scan], topic="tracker.updated"
    )


def test_tracker_updated_parcel2_delivered_is_ups_delivered_at_1340():
    scan = ups(
        ShipmentStatus.DELIVERED,
        "delivered",
        "arrived_at_destination",
        utc(5, 13, 40),
        "DELIVERED",
    )
    check_webhook("easypost", "tracker_updated__parcel2_delivered", [scan], topic="tracker.updated")


def test_tracker_updated_unknown_is_unknown_with_the_raw_code_kept():
    scan = usps(ShipmentStatus.UNKNOWN, "unknown", "unknown", utc(3, 2), "Status Not Available")
    check_webhook("easypost", "tracker_updated__unknown", [scan], topic="tracker.updated")


def test_tracker_updated_error_is_unknown_with_the_raw_code_kept():
    scan = usps(
        ShipmentStatus.UNKNOWN,
        "error",
        "unknown",
        utc(3, 3),
        "Tracking information unavailable from carrier",
    )
    check_webhook("easypost", "tracker_updated__error", [scan], topic="tracker.updated")


def test_tracker_updated_available_for_pickup_waits_at_the_post_office_from_0915():
    scan = usps(
        ShipmentStatus.AVAILABLE_FOR_PICKUP,
        "available_for_pickup",
        "arrived_at_pickup_location",
        utc(4, 9, 15),
        "Available for Pickup",
    )
    check_webhook(
        "easypost", "tracker_updated__available_for_pickup", [scan], topic="tracker.updated"
    )


def test_tracker_updated_return_to_sender_is_returned_at_1105():
    scan = usps(
        ShipmentStatus.RETURNED,
        "return_to_sender",
        "return",
        utc(4, 11, 5),
        "Addressee Unknown, Return to Sender",
    )
    check_webhook("easypost", "tracker_updated__return_to_sender", [scan], topic="tracker.updated")


def test_tracker_updated_failed_attempt_is_still_in_transit_with_the_exception_kept():
    scan = usps(
        ShipmentStatus.IN_TRANSIT,
        "in_transit",
        "delivery_exception",
        utc(4, 12, 20),
        "Delivery attempted - no access to delivery location",
    )
    check_webhook("easypost", "tracker_updated__failed_attempt", [scan], topic="tracker.updated")


def test_tracker_updated_failure_is_an_exception_at_1205_next_day():
    scan = usps(
        ShipmentStatus.EXCEPTION,
        "failure",
        "delivery_exception",
        utc(5, 12, 5),
        "Delivery attempted - no access to delivery location",
    )
    check_webhook("easypost", "tracker_updated__failure", [scan], topic="tracker.updated")


def test_tracker_updated_cancelled_is_a_cancelled_label_without_estimate():
    scan = usps(
        ShipmentStatus.CANCELLED,
        "cancelled",
        "cancelled",
        utc(2, 18, 30),
        "Shipping Label Cancelled",
        est=None,
    )
    check_webhook("easypost", "tracker_updated__cancelled", [scan], topic="tracker.updated")


def test_refund_successful_is_a_real_event_ordertrack_keeps_as_ignored():
    envelope = check_webhook(
        "easypost", "refund_successful", [], topic="refund.successful", handled=False
    )
    assert envelope.dedupe_key == "evt_6f6b0cb007697e94f70b8782ae787fb9"


#: Each tracker event's id, which EasyPost sends again on a retry.
EVENT_IDS = {
    "tracker_created": "evt_82c09474b21443741d7c59b3a340de13",
    "tracker_updated__in_transit": "evt_82f586c3d0b6540754eb45fa8406f8d1",
    "tracker_updated__out_for_delivery": "evt_12cfeccfdd7859a1ac6f232303a74af2",
    "tracker_updated__delivered": "evt_a43ce071763df3bcd1c696592d861f52",
    "tracker_updated__parcel2_in_transit": "evt_f882a08926a918a78bc5c69b0639aec0",
    "tracker_updated__parcel2_out_for_delivery": "evt_214836b97096dda52205979358700253",
    "tracker_updated__parcel2_delivered": "evt_b8037d99a5a205c4307d21b5b0e06e40",
    "tracker_updated__unknown": "evt_2b8f5d45d30115f66b61bf3ff8090fa8",
    "tracker_updated__error": "evt_7067a06136bec61b0d01e101c94b8f36",
    "tracker_updated__available_for_pickup": "evt_2748b79530795b44a507e5211857d134",
    "tracker_updated__return_to_sender": "evt_6d2c4bb3f43b833b16e827d7f58e60d4",
    "tracker_updated__failed_attempt": "evt_ba79d9f31bb74714594098b70fd34efc",
    "tracker_updated__failure": "evt_58fffb0d0957ec76dacaec0b778f9d43",
    "tracker_updated__cancelled": "evt_fbc33e18b778582b913d9082c73023a4",
}


@pytest.mark.parametrize("name", EVENT_IDS)
def test_each_event_is_deduplicated_by_its_id(name):
    assert envelope_of("easypost", name).dedupe_key == EVENT_IDS[name]


# --- Every documented code


def test_every_documented_tracker_status_is_in_the_providers_table():
    assert set(DOCUMENTED_STATUSES) <= set(STATUSES)


@pytest.mark.parametrize(("code", "expected"), DOCUMENTED_STATUSES.items())
def test_tracker_status_maps_to_its_documented_meaning_with_the_raw_code_kept(code, expected):
    fact = in_transit_with(status=code)
    assert (fact.status, fact.raw_status) == (expected, code)


def test_an_undocumented_tracker_status_is_unknown_with_its_raw_code_never_in_transit():
    fact = in_transit_with(status="teleported")
    assert (fact.status, fact.raw_status) == (ShipmentStatus.UNKNOWN, "teleported")


@pytest.mark.parametrize("detail", DOCUMENTED_STATUS_DETAILS)
def test_every_documented_status_detail_is_kept(detail):
    fact = in_transit_with(status_detail=detail)
    assert (fact.status, fact.detail) == (ShipmentStatus.IN_TRANSIT, detail)


def test_the_newest_tracking_detail_dates_the_event_whatever_its_position():
    name = "tracker_updated__delivered"
    fact = edited_fact(
        "easypost", name, lambda event: event["result"]["tracking_details"].reverse()
    )
    assert fact.occurred_at == utc(4, 15, 12)


def test_without_tracking_details_the_trackers_update_time_dates_the_event():
    fact = in_transit_with(tracking_details=[])
    assert (fact.occurred_at, fact.message) == (utc(3, 8, 1, 3), None)


@pytest.mark.parametrize(
    ("printed", "normalized"),
    [(" 9400 1118 9922 3344 5566 77 ", USPS_NUMBER), ("1z999aa10123456784", UPS_NUMBER)],
    ids=["spaced", "lower case"],
)
def test_tracking_number_is_normalized_without_spaces_in_upper_case(printed, normalized):
    assert in_transit_with(tracking_code=printed).shipment.tracking_number == normalized


# --- Signatures and refusals


def test_easyposts_own_known_answer_vector_verifies():
    vector = json.loads((FIXTURES / "easypost" / "signature_vector.json").read_text())
    body = (FIXTURES / "easypost" / vector["body_file"]).read_bytes().rstrip(b"\n")
    sent = WebhookRequest(body, Headers({"X-Hmac-Signature": vector["signature"]}), {})
    configured = webhook.credentials("easypost", secrets=(vector["secret"],))
    assert webhook.accept("easypost", sent, configured) == Envelope(
        "tracker.updated", "evt_1", True
    )


def test_a_signature_keyed_without_nfkd_normalization_is_refused():
    request = webhook.signed("easypost", "tracker_created")
    nfc = unicodedata.normalize("NFC", SECRET).encode()
    assert nfc != unicodedata.normalize("NFKD", SECRET).encode()
    wrong = "hmac-sha256-hex=" + hmac.new(nfc, request.body, hashlib.sha256).hexdigest()
    with pytest.raises(BadSignature):
        webhook.accept("easypost", webhook.with_headers(request, {"X-Hmac-Signature": wrong}))


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda r: webhook.with_headers(
                r, {"X-Hmac-Signature": signature(r.body, "another secret")}
            ),
            id="signed with another secret",
        ),
        pytest.param(
            lambda r: replace(r, body=r.body.replace(b"pre_transit", b"delivered")),
            id="body changed after signing",
        ),
        pytest.param(lambda r: webhook.with_headers(r, {"X-Hmac-Signature": None}), id="unsigned"),
        pytest.param(
            lambda r: webhook.with_headers(
                r, {"X-Hmac-Signature": signature(r.body).removeprefix("hmac-sha256-hex=")}
            ),
            id="bare hex digest without the documented prefix",
        ),
    ],
)
def test_a_delivery_not_signed_as_easypost_signs_is_refused(tamper):
    with pytest.raises(BadSignature):
        webhook.accept("easypost", tamper(webhook.signed("easypost", "tracker_created")))


def test_an_event_easypost_never_sends_is_unknown():
    name = "tracker_updated__in_transit"
    with pytest.raises(UnknownTopic):
        envelope_of("easypost", name, edited("easypost", name, description="tracker.teleported"))


@pytest.mark.parametrize("field", ["id", "description"])
def test_an_event_without_its_header_field_names_it(field):
    name = "tracker_updated__in_transit"
    with pytest.raises(MissingFields) as refused:
        envelope_of("easypost", name, edited("easypost", name, lambda e: e.pop(field)))
    assert field in refused.value.details


def _without_tracker_field(field: str) -> bytes:
    return edited("easypost", "tracker_updated__in_transit", lambda e: e["result"].pop(field))


@pytest.mark.parametrize("field", ["tracking_code", "status"])
def test_a_tracker_without_a_required_field_is_refused_at_the_edge_naming_it(field):
    with pytest.raises(MissingFields) as refused:
        envelope_of("easypost", "tracker_updated__in_transit", _without_tracker_field(field))
    assert field in refused.value.details["result"]


@pytest.mark.parametrize("field", ["tracking_code", "status"])
def test_a_stored_tracker_without_a_required_field_is_refused_by_the_worker(field):
    payload = json.loads(_without_tracker_field(field))
    with pytest.raises(MissingFields) as refused:
        webhook.normalized("easypost", "tracker.updated", payload)
    assert field in refused.value.details["result"]


def test_a_tracker_event_without_its_tracker_names_result():
    body = edited("easypost", "tracker_updated__in_transit", lambda e: e.pop("result"))
    with pytest.raises(MissingFields) as refused:
        webhook.normalized("easypost", "tracker.updated", json.loads(body))
    assert "result" in refused.value.details


def test_a_tracking_detail_without_a_time_names_it():
    body = edited(
        "easypost",
        "tracker_updated__in_transit",
        lambda e: e["result"]["tracking_details"][-1].pop("datetime"),
    )
    with pytest.raises(MissingFields) as refused:
        webhook.normalized("easypost", "tracker.updated", json.loads(body))
    assert "datetime" in json.dumps(refused.value.details)
