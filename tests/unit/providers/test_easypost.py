"""EasyPost provider, pure: every fixture through one helper (verify -> envelope -> normalize),
every documented tracker status and status_detail against tables written from the
documentation, and the ways a delivery is refused. No database, no app."""

import hashlib
import hmac
import json
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from werkzeug.datastructures import Headers

from ordertrack.errors import BadSignature, MissingFields, UnknownTopic
from ordertrack.facts import Fact, ShipmentRef, TrackingFact
from ordertrack.providers import easypost
from ordertrack.providers.base import Credentials, Delivery, Envelope
from ordertrack.statuses import ShipmentStatus
from tests.support.webhooks import FIXTURES, SECRETS, Request, easypost_signature, fixture_body
from tests.support.webhooks import easypost as easypost_request

#: When ordertrack received a delivery: only a last resort for payloads without a time.
RECEIVED_AT = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)

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


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


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


# --- The one helper


def edited(name: str, edit: Callable[[dict], None]) -> bytes:
    """The fixture's JSON with one change, serialized as EasyPost would send it."""
    payload = json.loads(fixture_body("easypost", name))
    edit(payload)
    return json.dumps(payload).encode()


def with_tracker(name: str, **changes) -> bytes:
    return edited(name, lambda event: event["result"].update(changes))


def delivery(request: Request) -> Delivery:
    return Delivery(body=request.body, headers=Headers(request.headers), query={})


def receive(name: str, body: bytes | None = None) -> tuple[Envelope, list[Fact]]:
    """What the receiver and the worker do with one delivery, in order; every fact's time
    must come out as aware UTC."""
    request = easypost_request(name, body)
    easypost.verify(delivery(request), Credentials(secrets=(SECRETS["easypost"],)))
    payload = json.loads(request.body)
    envelope = easypost.envelope(delivery(request), payload)
    facts = easypost.normalize(envelope.topic, payload, RECEIVED_AT) if envelope.handled else []
    for fact in facts:
        assert fact.occurred_at.utcoffset() == timedelta(0), fact
    return envelope, facts


def check(name: str, event_id: str, fact: TrackingFact, topic: str = "tracker.updated"):
    envelope, facts = receive(name)
    assert envelope == Envelope(topic=topic, dedupe_key=event_id, handled=True)
    assert facts == [fact]


# --- One test per fixture


def test_tracker_created_is_the_usps_label_at_1405():
    check(
        "tracker_created",
        "evt_82c09474b21443741d7c59b3a340de13",
        usps(
            ShipmentStatus.LABEL_CREATED,
            "pre_transit",
            "label_created",
            utc(2, 14, 5),
            "Shipping Label Created, USPS Awaiting Item",
        ),
        topic="tracker.created",
    )


def test_tracker_updated_in_transit_is_usps_accepted_at_origin_at_0800():
    check(
        "tracker_updated__in_transit",
        "evt_82f586c3d0b6540754eb45fa8406f8d1",
        usps(
            ShipmentStatus.IN_TRANSIT,
            "in_transit",
            "received_at_origin_facility",
            utc(3, 8),
            "Accepted at USPS Origin Facility",
        ),
    )


def test_tracker_updated_out_for_delivery_is_usps_on_the_van_at_0730():
    check(
        "tracker_updated__out_for_delivery",
        "evt_12cfeccfdd7859a1ac6f232303a74af2",
        usps(
            ShipmentStatus.OUT_FOR_DELIVERY,
            "out_for_delivery",
            "out_for_delivery",
            utc(4, 7, 30),
            "Out for Delivery, Expected Delivery by 9:00pm",
        ),
    )


def test_tracker_updated_delivered_is_usps_delivered_at_1512():
    check(
        "tracker_updated__delivered",
        "evt_a43ce071763df3bcd1c696592d861f52",
        usps(
            ShipmentStatus.DELIVERED,
            "delivered",
            "arrived_at_destination",
            utc(4, 15, 12),
            "Delivered, In/At Mailbox",
        ),
    )


def test_tracker_updated_parcel2_in_transit_is_ups_origin_scan_at_0900():
    check(
        "tracker_updated__parcel2_in_transit",
        "evt_f882a08926a918a78bc5c69b0639aec0",
        ups(
            ShipmentStatus.IN_TRANSIT,
            "in_transit",
            "received_at_origin_facility",
            utc(3, 9),
            "Origin Scan",
        ),
    )


def test_tracker_updated_parcel2_out_for_delivery_is_ups_on_the_van_at_0700():
    check(
        "tracker_updated__parcel2_out_for_delivery",
        "evt_214836b97096dda52205979358700253",
        ups(
            ShipmentStatus.OUT_FOR_DELIVERY,
            "out_for_delivery",
            "out_for_delivery",
            utc(5, 7),
            "Out For Delivery Today",
        ),
    )


def test_tracker_updated_parcel2_delivered_is_ups_delivered_at_1340():
    check(
        "tracker_updated__parcel2_delivered",
        "evt_b8037d99a5a205c4307d21b5b0e06e40",
        ups(
            ShipmentStatus.DELIVERED,
            "delivered",
            "arrived_at_destination",
            utc(5, 13, 40),
            "DELIVERED",
        ),
    )


def test_tracker_updated_unknown_is_unknown_with_the_raw_code_kept():
    check(
        "tracker_updated__unknown",
        "evt_2b8f5d45d30115f66b61bf3ff8090fa8",
        usps(ShipmentStatus.UNKNOWN, "unknown", "unknown", utc(3, 2), "Status Not Available"),
    )


def test_tracker_updated_error_is_unknown_with_the_raw_code_kept():
    check(
        "tracker_updated__error",
        "evt_7067a06136bec61b0d01e101c94b8f36",
        usps(
            ShipmentStatus.UNKNOWN,
            "error",
            "unknown",
            utc(3, 3),
            "Tracking information unavailable from carrier",
        ),
    )


def test_tracker_updated_available_for_pickup_waits_at_the_post_office_from_0915():
    check(
        "tracker_updated__available_for_pickup",
        "evt_2748b79530795b44a507e5211857d134",
        usps(
            ShipmentStatus.AVAILABLE_FOR_PICKUP,
            "available_for_pickup",
            "arrived_at_pickup_location",
            utc(4, 9, 15),
            "Available for Pickup",
        ),
    )


def test_tracker_updated_return_to_sender_is_returned_at_1105():
    check(
        "tracker_updated__return_to_sender",
        "evt_6d2c4bb3f43b833b16e827d7f58e60d4",
        usps(
            ShipmentStatus.RETURNED,
            "return_to_sender",
            "return",
            utc(4, 11, 5),
            "Addressee Unknown, Return to Sender",
        ),
    )


def test_tracker_updated_failed_attempt_is_still_in_transit_with_the_exception_kept():
    check(
        "tracker_updated__failed_attempt",
        "evt_ba79d9f31bb74714594098b70fd34efc",
        usps(
            ShipmentStatus.IN_TRANSIT,
            "in_transit",
            "delivery_exception",
            utc(4, 12, 20),
            "Delivery attempted - no access to delivery location",
        ),
    )


def test_tracker_updated_failure_is_an_exception_at_1205_next_day():
    check(
        "tracker_updated__failure",
        "evt_58fffb0d0957ec76dacaec0b778f9d43",
        usps(
            ShipmentStatus.EXCEPTION,
            "failure",
            "delivery_exception",
            utc(5, 12, 5),
            "Delivery attempted - no access to delivery location",
        ),
    )


def test_tracker_updated_cancelled_is_a_cancelled_label_without_estimate():
    check(
        "tracker_updated__cancelled",
        "evt_fbc33e18b778582b913d9082c73023a4",
        usps(
            ShipmentStatus.CANCELLED,
            "cancelled",
            "cancelled",
            utc(2, 18, 30),
            "Shipping Label Cancelled",
            est=None,
        ),
    )


def test_refund_successful_is_a_real_event_ordertrack_keeps_as_ignored():
    envelope, facts = receive("refund_successful")
    assert envelope == Envelope(
        topic="refund.successful",
        dedupe_key="evt_6f6b0cb007697e94f70b8782ae787fb9",
        handled=False,
    )
    assert facts == []


# --- Every documented code


def test_every_documented_tracker_status_is_in_the_providers_table():
    assert set(DOCUMENTED_STATUSES) <= set(easypost.STATUSES)


@pytest.mark.parametrize(("code", "expected"), DOCUMENTED_STATUSES.items())
def test_tracker_status_maps_to_its_documented_meaning_with_the_raw_code_kept(code, expected):
    body = with_tracker("tracker_updated__in_transit", status=code)
    (fact,) = receive("tracker_updated__in_transit", body)[1]
    assert (fact.status, fact.raw_status) == (expected, code)


def test_an_undocumented_tracker_status_is_unknown_with_its_raw_code_never_in_transit():
    body = with_tracker("tracker_updated__in_transit", status="teleported")
    (fact,) = receive("tracker_updated__in_transit", body)[1]
    assert (fact.status, fact.raw_status) == (ShipmentStatus.UNKNOWN, "teleported")


@pytest.mark.parametrize("detail", DOCUMENTED_STATUS_DETAILS)
def test_every_documented_status_detail_is_kept(detail):
    body = with_tracker("tracker_updated__in_transit", status_detail=detail)
    (fact,) = receive("tracker_updated__in_transit", body)[1]
    assert (fact.status, fact.detail) == (ShipmentStatus.IN_TRANSIT, detail)


def test_the_newest_tracking_detail_dates_the_event_whatever_its_position():
    def shuffle(event):
        event["result"]["tracking_details"].reverse()

    (fact,) = receive("tracker_updated__delivered", edited("tracker_updated__delivered", shuffle))[
        1
    ]
    assert fact.occurred_at == utc(4, 15, 12)


def test_without_tracking_details_the_trackers_update_time_dates_the_event():
    body = with_tracker("tracker_updated__in_transit", tracking_details=[])
    (fact,) = receive("tracker_updated__in_transit", body)[1]
    assert (fact.occurred_at, fact.message) == (datetime(2026, 11, 3, 8, 1, 3, tzinfo=UTC), None)


@pytest.mark.parametrize(
    ("printed", "normalized"),
    [(" 9400 1118 9922 3344 5566 77 ", USPS_NUMBER), ("1z999aa10123456784", UPS_NUMBER)],
)
def test_tracking_number_is_normalized_without_spaces_in_upper_case(printed, normalized):
    body = with_tracker("tracker_updated__in_transit", tracking_code=printed)
    (fact,) = receive("tracker_updated__in_transit", body)[1]
    assert fact.shipment.tracking_number == normalized


# --- Signatures and refusals


def test_easyposts_own_known_answer_vector_verifies():
    vector = json.loads((FIXTURES / "easypost" / "signature_vector.json").read_text())
    body = (FIXTURES / "easypost" / vector["body_file"]).read_bytes().rstrip(b"\n")
    signed = Delivery(body, Headers({"X-Hmac-Signature": vector["signature"]}), {})
    easypost.verify(signed, Credentials(secrets=(vector["secret"],)))


def test_a_signature_keyed_without_nfkd_normalization_is_refused():
    request = easypost_request("tracker_created")
    nfc = unicodedata.normalize("NFC", SECRETS["easypost"]).encode()
    assert nfc != unicodedata.normalize("NFKD", SECRETS["easypost"]).encode()
    wrong = "hmac-sha256-hex=" + hmac.new(nfc, request.body, hashlib.sha256).hexdigest()
    forged = Request("easypost", "x", request.body, {**request.headers, "X-Hmac-Signature": wrong})
    with pytest.raises(BadSignature):
        easypost.verify(delivery(forged), Credentials(secrets=(SECRETS["easypost"],)))


def test_a_signature_made_with_another_secret_is_refused():
    request = easypost_request("tracker_created")
    signature = easypost_signature(request.body, "another secret")
    forged = Request(
        "easypost", "x", request.body, {**request.headers, "X-Hmac-Signature": signature}
    )
    with pytest.raises(BadSignature):
        easypost.verify(delivery(forged), Credentials(secrets=(SECRETS["easypost"],)))


def test_a_body_changed_after_signing_is_refused():
    request = easypost_request("tracker_created")
    tampered = Request(
        "easypost", "x", request.body.replace(b"pre_transit", b"delivered"), request.headers
    )
    with pytest.raises(BadSignature):
        easypost.verify(delivery(tampered), Credentials(secrets=(SECRETS["easypost"],)))


def test_a_delivery_without_signature_is_refused():
    request = easypost_request("tracker_created")
    unsigned = Request("easypost", "x", request.body, {"Content-Type": "application/json"})
    with pytest.raises(BadSignature):
        easypost.verify(delivery(unsigned), Credentials(secrets=(SECRETS["easypost"],)))


def test_a_bare_hex_digest_without_the_documented_prefix_is_refused():
    request = easypost_request("tracker_created")
    bare = easypost_signature(request.body, SECRETS["easypost"]).removeprefix("hmac-sha256-hex=")
    forged = Request("easypost", "x", request.body, {"X-Hmac-Signature": bare})
    with pytest.raises(BadSignature):
        easypost.verify(delivery(forged), Credentials(secrets=(SECRETS["easypost"],)))


def test_an_event_easypost_never_sends_is_unknown():
    body = edited(
        "tracker_updated__in_transit", lambda e: e.update(description="tracker.teleported")
    )
    with pytest.raises(UnknownTopic):
        easypost.envelope(delivery(easypost_request("x", body)), json.loads(body))


@pytest.mark.parametrize("field", ["id", "description"])
def test_an_event_without_its_header_field_names_it(field):
    body = edited("tracker_updated__in_transit", lambda e: e.pop(field))
    with pytest.raises(MissingFields) as refused:
        easypost.envelope(delivery(easypost_request("x", body)), json.loads(body))
    assert field in refused.value.details


@pytest.mark.parametrize("field", ["tracking_code", "status"])
def test_a_tracker_without_a_required_field_names_it(field):
    body = edited("tracker_updated__in_transit", lambda e: e["result"].pop(field))
    with pytest.raises(MissingFields) as refused:
        easypost.envelope(delivery(easypost_request("x", body)), json.loads(body))
    assert field in refused.value.details["result"]
    with pytest.raises(MissingFields) as again:
        easypost.normalize("tracker.updated", json.loads(body), RECEIVED_AT)
    assert field in again.value.details["result"]


def test_a_tracker_event_without_its_tracker_names_result():
    body = edited("tracker_updated__in_transit", lambda e: e.pop("result"))
    with pytest.raises(MissingFields) as refused:
        easypost.normalize("tracker.updated", json.loads(body), RECEIVED_AT)
    assert "result" in refused.value.details


def test_a_tracking_detail_without_a_time_names_it():
    body = edited(
        "tracker_updated__in_transit",
        lambda e: e["result"]["tracking_details"][-1].pop("datetime"),
    )
    with pytest.raises(MissingFields) as refused:
        easypost.normalize("tracker.updated", json.loads(body), RECEIVED_AT)
    assert "datetime" in json.dumps(refused.value.details)
