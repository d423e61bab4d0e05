"""FedEx Advanced Integrated Visibility, pure: every fixture through one helper (verify ->
envelope -> normalize), every documented status code against a table written from FedEx's
API reference, the dedupe key FedEx does not give us, times and estimates, and the ways a push
is refused."""

import base64
import copy
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from werkzeug.datastructures import Headers

from ordertrack.errors import BadSignature, MissingFields, UnknownTopic
from ordertrack.facts import Fact, ShipmentRef, TrackingFact
from ordertrack.providers import fedex
from ordertrack.providers.base import Credentials, Delivery, Envelope
from ordertrack.statuses import ShipmentStatus
from tests.support.sources.fedex import SECRET, signature
from tests.support.sources.fedex import request as fedex_request
from tests.support.webhooks import Request, fixture_body

#: When ordertrack received a push: only a last resort for a result without any scan.
RECEIVED_AT = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
CREDENTIALS = Credentials(secrets=(SECRET,))
NO_CHANGE = None  # a code that says nothing about where the parcel is

# --- Documentation table (developer.fedex.com/api/en-us/guides/api-reference.html "Tracking
# Status Codes", and "Status Code and Statuses for Webhook Tracking Events"). Written from the
# documented meaning of each code, not from ordertrack's table.

#: "Tracking Status Codes", Movement and Regulatory groups: all 58 entries (EA and SP twice).
DOCUMENTED_TRACKING_STATUS_CODES = {
    "AA": ShipmentStatus.IN_TRANSIT,  # At Airport
    "AC": ShipmentStatus.IN_TRANSIT,  # At Canada Post facility
    "AD": ShipmentStatus.OUT_FOR_DELIVERY,  # At Delivery: at the door, not handed over
    "AF": ShipmentStatus.IN_TRANSIT,  # At local FedEx Facility
    "AO": NO_CHANGE,  # Shipment arriving On-time
    "AP": ShipmentStatus.LABEL_CREATED,  # At Pickup: FedEx does not have it yet
    "AR": ShipmentStatus.IN_TRANSIT,  # Arrived at FedEx location
    "AX": ShipmentStatus.IN_TRANSIT,  # At USPS facility
    "CA": ShipmentStatus.CANCELLED,  # Shipment Cancelled
    "CH": ShipmentStatus.IN_TRANSIT,  # Location Changed
    "DD": ShipmentStatus.EXCEPTION,  # Delivery Delay
    "DE": ShipmentStatus.DELIVERY_FAILED,  # Delivery Exception: the delivery did not happen
    "DL": ShipmentStatus.DELIVERED,  # Delivered
    "DP": ShipmentStatus.IN_TRANSIT,  # Departed
    "DR": ShipmentStatus.LABEL_CREATED,  # Vehicle furnished but not used
    "DS": ShipmentStatus.LABEL_CREATED,  # Vehicle Dispatched (for the pickup)
    "DY": NO_CHANGE,  # Delay; "Delivery updated" among the webhook's EDD events
    "EA": ShipmentStatus.IN_TRANSIT,  # Enroute to Airport; Export Approved
    "ED": ShipmentStatus.IN_TRANSIT,  # Enroute to Delivery
    "EO": ShipmentStatus.IN_TRANSIT,  # Enroute to Origin Airport
    "EP": ShipmentStatus.LABEL_CREATED,  # Enroute to Pickup
    "FD": ShipmentStatus.IN_TRANSIT,  # At FedEx Destination
    "HL": ShipmentStatus.AVAILABLE_FOR_PICKUP,  # Hold at Location
    "HP": ShipmentStatus.AVAILABLE_FOR_PICKUP,  # Ready for Recipient Pickup
    "IT": ShipmentStatus.IN_TRANSIT,  # In Transit
    "IX": ShipmentStatus.IN_TRANSIT,  # In transit (see Details)
    "LO": ShipmentStatus.IN_TRANSIT,  # Left Origin
    "OC": ShipmentStatus.LABEL_CREATED,  # Order Created
    "OD": ShipmentStatus.OUT_FOR_DELIVERY,  # Out for Delivery
    "OF": ShipmentStatus.IN_TRANSIT,  # At FedEx origin facility
    "OW": ShipmentStatus.IN_TRANSIT,  # On the way
    "OX": ShipmentStatus.IN_TRANSIT,  # Shipment information sent to USPS
    "PD": ShipmentStatus.EXCEPTION,  # Pickup Delay
    "PF": ShipmentStatus.IN_TRANSIT,  # Plane in Flight
    "PL": ShipmentStatus.IN_TRANSIT,  # Plane Landed
    "PM": ShipmentStatus.IN_TRANSIT,  # In Progress
    "PU": ShipmentStatus.IN_TRANSIT,  # Picked Up
    "PX": ShipmentStatus.IN_TRANSIT,  # Picked up (see Details)
    "RR": NO_CHANGE,  # CDO requested
    "RM": NO_CHANGE,  # CDO Modified
    "RC": NO_CHANGE,  # CDO Cancelled
    "RS": ShipmentStatus.RETURNED,  # Return to Shipper
    "RP": ShipmentStatus.LABEL_CREATED,  # Return label link emailed to return sender
    "LP": ShipmentStatus.CANCELLED,  # Return label link cancelled by shipment originator
    "RG": NO_CHANGE,  # Return label link expiring soon
    "RD": ShipmentStatus.CANCELLED,  # Return label link expired
    "SE": ShipmentStatus.EXCEPTION,  # Shipment Exception
    "SF": ShipmentStatus.IN_TRANSIT,  # At Sort Facility
    "SP": NO_CHANGE,  # Split Status
    "TR": ShipmentStatus.IN_TRANSIT,  # Transfer
    "CC": ShipmentStatus.IN_TRANSIT,  # Cleared Customs
    "CD": ShipmentStatus.EXCEPTION,  # Clearance Delay
    "CP": ShipmentStatus.IN_TRANSIT,  # Clearance in Progress
}

#: "Status Code and Statuses for Webhook Tracking Events": the codes the table above lacks.
DOCUMENTED_WEBHOOK_CODES = {
    "DO": ShipmentStatus.IN_TRANSIT,  # Ship: Dropped Off
    "LC": ShipmentStatus.CANCELLED,  # Ship: Return label link cancelled by shipment originator
    "US": NO_CHANGE,  # Ship: Scheduled delivery updated
    "IP": ShipmentStatus.IN_TRANSIT,  # Ship: In FedEx possession
    "IN": NO_CHANGE,  # In-Transit: On Demand Care completed
    "MD": ShipmentStatus.LABEL_CREATED,  # In-Transit: Manifest data
    "AE": NO_CHANGE,  # EDD: Shipment arriving early
    "HA": NO_CHANGE,  # CDO: Hold at location request accepted
    "RT": NO_CHANGE,  # CDO: Return to Shipper Requested
    "RA": NO_CHANGE,  # CDO: Address Change Requested
    "PR": NO_CHANGE,  # CDO: Performed Redirect - Address Change Completed
    "AS": NO_CHANGE,  # CDO: Address Corrected
}

#: "Tracking Status Codes", Possession group: who holds the parcel, never a status.
DOCUMENTED_POSSESSION_ONLY = ("SH", "CU", "BR", "TP")

DOCUMENTED_CODES = DOCUMENTED_TRACKING_STATUS_CODES | DOCUMENTED_WEBHOOK_CODES

# --- The story (tests/fixtures/fedex/README.md)

TRACKING_NUMBER = "794644790132"
PARCEL = ShipmentRef(tracking_number=TRACKING_NUMBER, carrier="FedEx")


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def fedex_fact(
    status: ShipmentStatus,
    raw: str,
    detail: str | None,
    at: datetime,
    message: str,
    est: date | None,
) -> TrackingFact:
    return TrackingFact(PARCEL, status, at, raw, detail, message, "FedEx", est)


# --- The one helper


def edited(name: str, edit: Callable[[dict], None]) -> bytes:
    """The fixture's JSON with one change, serialized as FedEx would send it."""
    payload = json.loads(fixture_body("fedex", name))
    edit(payload)
    return json.dumps(payload).encode()


def result_of(push: dict) -> dict:
    return push["output"]["completeTrackResults"][0]["trackResults"][0]


def with_result(name: str, edit: Callable[[dict], None]) -> bytes:
    return edited(name, lambda push: edit(result_of(push)))


def with_code(name: str, code: str) -> bytes:
    return with_result(name, lambda result: result["latestStatusDetail"].update(code=code))


def delivery(request: Request) -> Delivery:
    return Delivery(body=request.body, headers=Headers(request.headers), query={})


def receive(name: str, body: bytes | None = None) -> tuple[Envelope, list[Fact]]:
    """What the receiver and the worker do with one push, in order; every fact's time must
    come out as aware UTC."""
    request = fedex_request(name, body)
    fedex.verify(delivery(request), CREDENTIALS)
    payload = json.loads(request.body)
    envelope = fedex.envelope(delivery(request), payload)
    facts = fedex.normalize(envelope.topic, payload, RECEIVED_AT) if envelope.handled else []
    for fact in facts:
        assert fact.occurred_at.utcoffset() == timedelta(0), fact
    return envelope, facts


def check(name: str, fact: TrackingFact) -> None:
    envelope, facts = receive(name)
    assert (envelope.topic, envelope.handled) == ("tracking_event", True)
    assert facts == [fact]


def only_fact(body: bytes) -> TrackingFact:
    (fact,) = receive("x", body)[1]
    return fact


def key_of(body: bytes) -> str:
    return fedex.envelope(delivery(fedex_request("x", body)), json.loads(body)).dedupe_key


def refused_at_the_edge(body: bytes) -> MissingFields:
    with pytest.raises(MissingFields) as refused:
        fedex.envelope(delivery(fedex_request("x", body)), json.loads(body))
    return refused.value


# --- One test per fixture


def test_label_created_in_memphis_at_1020_central_is_1620_utc_without_an_estimate():
    check(
        "tracking_event__label_created",
        fedex_fact(
            ShipmentStatus.LABEL_CREATED,
            "OC",
            None,
            utc(2, 16, 20),
            "Shipment information sent to FedEx",
            None,
        ),
    )


def test_picked_up_is_in_transit_with_delivery_expected_on_the_4th():
    check(
        "tracking_event__picked_up",
        fedex_fact(
            ShipmentStatus.IN_TRANSIT, "PU", None, utc(2, 23, 45), "Picked up", date(2026, 11, 4)
        ),
    )


def test_in_transit_through_harrisburg_at_1410_eastern_is_1910_utc():
    check(
        "tracking_event__in_transit",
        fedex_fact(
            ShipmentStatus.IN_TRANSIT, "IT", None, utc(3, 19, 10), "In transit", date(2026, 11, 4)
        ),
    )


def test_on_vehicle_for_delivery_is_out_for_delivery_though_fedex_derives_in_transit():
    check(
        "tracking_event__on_vehicle_for_delivery",
        fedex_fact(
            ShipmentStatus.OUT_FOR_DELIVERY,
            "OD",
            None,
            utc(4, 13, 5),
            "On FedEx vehicle for delivery",
            date(2026, 11, 4),
        ),
    )


def test_delivery_exception_is_a_failed_attempt_with_fedexs_reason_and_a_new_estimate():
    check(
        "tracking_event__delivery_exception",
        fedex_fact(
            ShipmentStatus.DELIVERY_FAILED,
            "DE",
            "08",
            utc(4, 19, 32),
            "Delivery exception: Customer not available or business closed",
            date(2026, 11, 5),
        ),
    )


def test_delivered_next_day_at_1247_eastern_says_where_it_was_left():
    check(
        "tracking_event__delivered",
        fedex_fact(
            ShipmentStatus.DELIVERED,
            "DL",
            None,
            utc(5, 17, 47),
            "Delivered: Left at front door. Signature Service not requested.",
            None,
        ),
    )


def test_held_at_location_is_available_for_pickup_at_fedex_office():
    check(
        "tracking_event__ready_for_pickup",
        fedex_fact(
            ShipmentStatus.AVAILABLE_FOR_PICKUP,
            "HL",
            "015A",
            utc(5, 14, 15),
            "Ready for pickup: Package available for pickup at FedEx Office: 360 W 31ST ST",
            None,
        ),
    )


def test_returning_to_shipper_is_returned():
    check(
        "tracking_event__returning_to_shipper",
        fedex_fact(
            ShipmentStatus.RETURNED, "RS", None, utc(9, 15), "Returning package to shipper", None
        ),
    )


# --- Every documented code


def test_every_documented_code_is_in_the_providers_table():
    assert set(DOCUMENTED_CODES) <= set(fedex.STATUSES)
    assert not set(DOCUMENTED_POSSESSION_ONLY) & set(fedex.STATUSES)


@pytest.mark.parametrize(("code", "expected"), DOCUMENTED_CODES.items())
def test_a_documented_code_maps_to_its_meaning_with_the_raw_code_kept(code, expected):
    assert fedex.STATUSES[code] == expected
    fact = only_fact(with_code("tracking_event__in_transit", code))
    # A code with no news is kept, never applied, and still carries the estimate.
    assert (fact.status, fact.raw_status) == (expected, code)
    assert fact.est_delivery == date(2026, 11, 4)


@pytest.mark.parametrize("code", ["ZZ", "XX", *DOCUMENTED_POSSESSION_ONLY])
def test_an_undocumented_code_is_unknown_with_its_raw_code_never_in_transit(code):
    fact = only_fact(with_code("tracking_event__in_transit", code))
    assert (fact.status, fact.raw_status) == (ShipmentStatus.UNKNOWN, code)


def test_fedexs_derived_code_never_stands_in_for_an_unknown_code():
    def unknown_but_derived_delivered(result):
        result["latestStatusDetail"].update(code="ZZ", derivedCode="DL")

    fact = only_fact(with_result("tracking_event__in_transit", unknown_but_derived_delivered))
    assert fact.status == ShipmentStatus.UNKNOWN


def test_the_summary_not_the_newest_scan_says_where_the_parcel_is():
    arriving_on_time = {
        "date": "2026-11-03T18:00:00-05:00",
        "eventType": "AO",
        "eventDescription": "Shipment arriving On-Time",
        "derivedStatusCode": "IT",
    }
    body = with_result(
        "tracking_event__in_transit", lambda r: r["scanEvents"].insert(0, arriving_on_time)
    )
    fact = only_fact(body)
    assert (fact.status, fact.raw_status, fact.occurred_at) == (
        ShipmentStatus.IN_TRANSIT,
        "IT",
        utc(3, 23),
    )


# --- Times, estimates, tracking numbers


def test_the_newest_scan_dates_the_event_whatever_its_position():
    body = with_result("tracking_event__delivered", lambda r: r["scanEvents"].reverse())
    assert only_fact(body).occurred_at == utc(5, 17, 47)


def test_a_result_without_scans_is_dated_when_it_was_received():
    body = with_result("tracking_event__picked_up", lambda r: r.update(scanEvents=[]))
    fact = only_fact(body)
    assert (fact.occurred_at, fact.message) == (RECEIVED_AT, "Picked up")


def test_the_estimate_is_the_day_fedex_wrote_not_the_utc_day():
    def late_evening(result):
        result["dateAndTimes"][0]["dateTime"] = "2026-11-04T23:30:00-05:00"

    assert only_fact(with_result("tracking_event__picked_up", late_evening)).est_delivery == date(
        2026, 11, 4
    )


def test_without_an_estimated_delivery_date_the_window_gives_the_estimate():
    def window_only(result):
        result["dateAndTimes"] = [
            d for d in result["dateAndTimes"] if d["type"] != "ESTIMATED_DELIVERY"
        ]
        result["estimatedDeliveryTimeWindow"] = {
            "window": {"begins": "2026-11-06T09:00:00-05:00", "ends": "2026-11-06T17:00:00"}
        }

    body = with_result("tracking_event__on_vehicle_for_delivery", window_only)
    assert only_fact(body).est_delivery == date(2026, 11, 6)


def test_an_empty_window_and_no_estimate_leave_the_estimate_unknown():
    assert only_fact(fixture_body("fedex", "tracking_event__delivered")).est_delivery is None


def test_a_push_for_two_packages_gives_a_fact_for_each():
    def add_second_package(push):
        second = copy.deepcopy(push["output"]["completeTrackResults"][0])
        second["trackingNumber"] = "794644790145"
        second["trackResults"][0]["trackingNumberInfo"]["trackingNumber"] = "794644790145"
        push["output"]["completeTrackResults"].append(second)

    facts = receive("x", edited("tracking_event__in_transit", add_second_package))[1]
    assert [f.shipment.tracking_number for f in facts] == [TRACKING_NUMBER, "794644790145"]


def test_the_groups_tracking_number_serves_when_the_result_names_none():
    body = with_result("tracking_event__in_transit", lambda r: r.pop("trackingNumberInfo"))
    assert only_fact(body).shipment == PARCEL


def test_a_tracking_number_as_printed_names_the_same_parcel():
    def printed(result):
        result["trackingNumberInfo"]["trackingNumber"] = " 7946 4479 0132 "

    assert only_fact(with_result("tracking_event__in_transit", printed)).shipment == PARCEL


# --- The dedupe key FedEx does not give


def test_the_same_push_however_serialized_is_one_event():
    body = fixture_body("fedex", "tracking_event__delivered")
    compact = json.dumps(json.loads(body), separators=(",", ":"), sort_keys=True).encode()
    assert key_of(body) == key_of(compact)
    assert len(key_of(body)) == 64


@pytest.mark.parametrize(
    "edit",
    [
        lambda push: push.update(transactionId="another-transaction"),
        lambda push: result_of(push).update(
            availableImages=[{"type": "PICTURE_PROOF_OF_DELIVERY"}]
        ),
    ],
    ids=["another transaction id", "the proof-of-delivery repeat"],
)
def test_the_same_news_sent_again_is_the_same_event(edit):
    body = fixture_body("fedex", "tracking_event__delivered")
    assert key_of(body) == key_of(edited("tracking_event__delivered", edit))


@pytest.mark.parametrize(
    "edit",
    [
        lambda result: result["latestStatusDetail"].update(code="SE"),
        lambda result: result["scanEvents"][0].update(date="2026-11-05T12:48:00-05:00"),
        lambda result: result["scanEvents"][0].update(eventType="AR"),
        lambda result: result["trackingNumberInfo"].update(trackingNumber="794644790145"),
    ],
)
def test_another_status_scan_or_parcel_is_another_event(edit):
    body = fixture_body("fedex", "tracking_event__delivered")
    assert key_of(body) != key_of(with_result("tracking_event__delivered", edit))


def test_every_fixture_is_a_distinct_event():
    names = [
        "tracking_event__label_created",
        "tracking_event__picked_up",
        "tracking_event__in_transit",
        "tracking_event__on_vehicle_for_delivery",
        "tracking_event__delivery_exception",
        "tracking_event__delivered",
        "tracking_event__ready_for_pickup",
        "tracking_event__returning_to_shipper",
    ]
    assert len({receive(name)[0].dedupe_key for name in names}) == len(names)


# --- Signatures and refusals


def test_a_signature_made_with_another_token_is_refused():
    request = fedex_request("tracking_event__delivered", secret="AnotherSecurityToken2026xyz")
    with pytest.raises(BadSignature):
        fedex.verify(delivery(request), CREDENTIALS)


def test_a_push_without_a_signature_is_refused():
    with pytest.raises(BadSignature):
        fedex.verify(delivery(fedex_request("tracking_event__delivered", secret=None)), CREDENTIALS)


def test_a_body_changed_after_signing_is_refused():
    request = fedex_request("tracking_event__delivered")
    tampered = Request("fedex", "x", request.body.replace(b'"DL"', b'"DE"'), request.headers)
    with pytest.raises(BadSignature):
        fedex.verify(delivery(tampered), CREDENTIALS)


def test_a_hex_digest_is_not_what_fedex_sends_and_is_refused():
    body = fixture_body("fedex", "tracking_event__delivered")
    hex_digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    forged = Request("fedex", "x", body, {"fdx-signature": hex_digest})
    with pytest.raises(BadSignature):
        fedex.verify(delivery(forged), CREDENTIALS)


def test_the_signature_is_over_the_raw_bytes_not_the_parsed_json():
    body = fixture_body("fedex", "tracking_event__delivered")
    compact = json.dumps(json.loads(body), separators=(",", ":")).encode()
    signed_compact = Request("fedex", "x", body, {"fdx-signature": signature(compact)})
    with pytest.raises(BadSignature):
        fedex.verify(delivery(signed_compact), CREDENTIALS)


def test_after_rotation_both_the_new_and_the_old_token_verify():
    new_token = "NewSecurityToken2027AdaLovelace"
    rotated = Credentials(secrets=(new_token, SECRET))
    fedex.verify(delivery(fedex_request("tracking_event__delivered")), rotated)
    fedex.verify(delivery(fedex_request("tracking_event__delivered", secret=new_token)), rotated)


def test_with_no_token_configured_nothing_verifies():
    request = fedex_request("tracking_event__delivered")
    with pytest.raises(BadSignature):
        fedex.verify(delivery(request), Credentials())


def test_the_signature_header_name_is_case_insensitive_as_http_headers_are():
    request = fedex_request("tracking_event__delivered")
    shouted = {"FDX-Signature": request.headers["fdx-signature"]}
    fedex.verify(delivery(Request("fedex", "x", request.body, shouted)), CREDENTIALS)


@pytest.mark.parametrize("body", [b"{}", b'{"trackResults": []}', b"[]", b'"794644790132"'])
def test_a_body_that_is_no_tracking_push_is_an_unknown_event(body):
    with pytest.raises(UnknownTopic):
        fedex.envelope(delivery(fedex_request("x", body)), json.loads(body))


def test_a_push_without_track_results_names_them_before_it_is_stored():
    body = edited(
        "tracking_event__delivered", lambda push: push["output"].pop("completeTrackResults")
    )
    assert "completeTrackResults" in refused_at_the_edge(body).details["output"]
    empty = edited(
        "tracking_event__delivered", lambda p: p["output"].update(completeTrackResults=[])
    )
    assert "completeTrackResults" in refused_at_the_edge(empty).details["output"]


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda result: result.pop("latestStatusDetail"), "latestStatusDetail"),
        (lambda result: result["latestStatusDetail"].pop("code"), "code"),
        (lambda result: result["latestStatusDetail"].update(code=""), "code"),
        (lambda result: result["latestStatusDetail"].update(code="  "), "code"),
        (lambda result: result["scanEvents"][0].pop("date"), "date"),
        (lambda result: result["scanEvents"][0].update(date="yesterday"), "date"),
    ],
)
def test_a_result_without_what_it_must_carry_names_the_field(edit, field):
    body = with_result("tracking_event__delivered", edit)
    assert field in json.dumps(refused_at_the_edge(body).details)
    with pytest.raises(MissingFields):
        fedex.normalize("tracking_event", json.loads(body), RECEIVED_AT)


def test_fedexs_documented_signature_scheme_is_base64_of_hmac_sha256():
    body = b'{"output":{}}'
    expected = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert signature(body) == expected
    fedex.verify(delivery(Request("fedex", "x", body, {"fdx-signature": expected})), CREDENTIALS)
