"""FedEx Advanced Integrated Visibility, pure: every fixture through `check_webhook` (verify ->
envelope -> normalize), every documented status code against a table written from FedEx's API
reference, the dedupe key FedEx does not give us, times and estimates, and the ways a push is
refused."""

import base64
import copy
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime

import pytest

from ordertrack.errors import BadSignature, MissingFields, UnknownTopic
from ordertrack.facts import ShipmentRef, TrackingFact
from ordertrack.providers.base import WebhookRequest
from ordertrack.providers.fedex.tables import STATUSES
from ordertrack.statuses import ShipmentStatus
from tests.support import check_webhook as webhook
from tests.support.check_webhook import check_webhook, edited, edited_fact, envelope_of, utc
from tests.support.sources.fedex import SECRET, signature
from tests.support.webhooks import fixture_body

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


def fedex_fact(
    status: ShipmentStatus,
    raw: str,
    detail: str | None,
    at: datetime,
    message: str,
    est: date | None,
) -> TrackingFact:
    return TrackingFact(PARCEL, status, at, raw, detail, message, "FedEx", est)


def result_of(push: dict) -> dict:
    return push["output"]["completeTrackResults"][0]["trackResults"][0]


def with_result(name: str, edit: Callable[[dict], None]) -> bytes:
    return edited("fedex", name, lambda push: edit(result_of(push)))


def result_fact(name: str, edit: Callable[[dict], None]) -> TrackingFact:
    """The one fact of the fixture, its track result edited."""
    return edited_fact("fedex", name, lambda push: edit(result_of(push)))


def in_transit_with_code(code: str) -> TrackingFact:
    return result_fact(
        "tracking_event__in_transit", lambda result: result["latestStatusDetail"].update(code=code)
    )


def key_of(body: bytes) -> str:
    return envelope_of("fedex", "x", body).dedupe_key


# --- One test per fixture


def test_label_created_in_memphis_at_1020_central_is_1620_utc_without_an_estimate():
    scan = fedex_fact(
        ShipmentStatus.LABEL_CREATED,
        "OC",
        None,
        utc(2, 16, 20),
        "Shipment information sent to FedEx",
        None,
    )
    check_webhook("fedex", "tracking_event__label_created", [scan], topic="tracking_event")


def test_picked_up_is_in_transit_with_delivery_expected_on_the_4th():
    scan = fedex_fact(
        ShipmentStatus.IN_TRANSIT, "PU", None, utc(2, 23, 45), "Picked up", date(2026, 11, 4)
    )
    check_webhook("fedex", "tracking_event__picked_up", [scan], topic="tracking_event")


def test_in_transit_through_harrisburg_at_1410_eastern_is_1910_utc():
    scan = fedex_fact(
        ShipmentStatus.IN_TRANSIT, "IT", None, utc(3, 19, 10), "In transit", date(2026, 11, 4)
    )
    check_webhook("fedex", "tracking_event__in_transit", [scan], topic="tracking_event")


def test_on_vehicle_for_delivery_is_out_for_delivery_though_fedex_derives_in_transit():
    scan = fedex_fact(
        ShipmentStatus.OUT_FOR_DELIVERY,
        "OD",
        None,
        utc(4, 13, 5),
        "On FedEx vehicle for delivery",
        date(2026, 11, 4),
    )
    check_webhook(
        "fedex", "tracking_event__on_vehicle_for_delivery", [scan], topic="tracking_event"
    )


def test_delivery_exception_is_a_failed_attempt_with_fedexs_reason_and_a_new_estimate():
    scan = fedex_fact(
        ShipmentStatus.DELIVERY_FAILED,
        "DE",
        "08",
        utc(4, 19, 32),
        "Delivery exception: Customer not available or business closed",
        date(2026, 11, 5),
    )
    check_webhook("fedex", "tracking_event__delivery_exception", [scan], topic="tracking_event")


def test_delivered_next_day_at_1247_eastern_says_where_it_was_left():
    scan = fedex_fact(
        ShipmentStatus.DELIVERED,
        "DL",
        None,
        utc(5, 17, 47),
        "Delivered: Left at front door. Signature Service not requested.",
        None,
    )
    check_webhook("fedex", "tracking_event__delivered", [scan], topic="tracking_event")


def test_held_at_location_is_available_for_pickup_at_fedex_office():
    scan = fedex_fact(
        ShipmentStatus.AVAILABLE_FOR_PICKUP,
        "HL",
        "015A",
        utc(5, 14, 15),
        "Ready for pickup: Package available for pickup at FedEx Office: 360 W 31ST ST",
        None,
    )
    check_webhook("fedex", "tracking_event__ready_for_pickup", [scan], topic="tracking_event")


def test_returning_to_shipper_is_returned():
    scan = fedex_fact(
        ShipmentStatus.RETURNED, "RS", None, utc(9, 15), "Returning package to shipper", None
    )
    check_webhook("fedex", "tracking_event__returning_to_shipper", [scan], topic="tracking_event")


# --- Every documented code


def test_every_documented_code_is_in_the_providers_table():
    assert set(DOCUMENTED_CODES) <= set(STATUSES)
    assert not set(DOCUMENTED_POSSESSION_ONLY) & set(STATUSES)


@pytest.mark.parametrize(("code", "expected"), DOCUMENTED_CODES.items())
def test_a_documented_code_maps_to_its_meaning_with_the_raw_code_kept(code, expected):
    assert STATUSES[code] == expected
    fact = in_transit_with_code(code)
    # A code with no news is kept, never applied, and still carries the estimate.
    assert (fact.status, fact.raw_status) == (expected, code)
    assert fact.est_delivery == date(2026, 11, 4)


@pytest.mark.parametrize("code", ["ZZ", "XX", *DOCUMENTED_POSSESSION_ONLY])
def test_an_undocumented_code_is_unknown_with_its_raw_code_never_in_transit(code):
    fact = in_transit_with_code(code)
    assert (fact.status, fact.raw_status) == (ShipmentStatus.UNKNOWN, code)


def test_fedexs_derived_code_never_stands_in_for_an_unknown_code():
    def unknown_but_derived_delivered(result):
        result["latestStatusDetail"].update(code="ZZ", derivedCode="DL")

    fact = result_fact("tracking_event__in_transit", unknown_but_derived_delivered)
    assert fact.status == ShipmentStatus.UNKNOWN


def test_the_summary_not_the_newest_scan_says_where_the_parcel_is():
    arriving_on_time = {
        "date": "2026-11-03T18:00:00-05:00",
        "eventType": "AO",
        "eventDescription": "Shipment arriving On-Time",
        "derivedStatusCode": "IT",
    }
    fact = result_fact(
        "tracking_event__in_transit", lambda r: r["scanEvents"].insert(0, arriving_on_time)
    )
    assert (fact.status, fact.raw_status, fact.occurred_at) == (
        ShipmentStatus.IN_TRANSIT,
        "IT",
        utc(3, 23),
    )


# --- Times, estimates, tracking numbers


def test_the_newest_scan_dates_the_event_whatever_its_position():
    fact = result_fact("tracking_event__delivered", lambda r: r["scanEvents"].reverse())
    assert fact.occurred_at == utc(5, 17, 47)


def test_a_result_without_scans_is_dated_when_it_was_received():
    fact = result_fact("tracking_event__picked_up", lambda r: r.update(scanEvents=[]))
    assert (fact.occurred_at, fact.message) == (webhook.RECEIVED_AT["fedex"], "Picked up")


def test_the_estimate_is_the_day_fedex_wrote_not_the_utc_day():
    def late_evening(result):
        result["dateAndTimes"][0]["dateTime"] = "2026-11-04T23:30:00-05:00"

    fact = result_fact("tracking_event__picked_up", late_evening)
    assert fact.est_delivery == date(2026, 11, 4)


def test_without_an_estimated_delivery_date_the_window_gives_the_estimate():
    def window_only(result):
        result["dateAndTimes"] = [
            d for d in result["dateAndTimes"] if d["type"] != "ESTIMATED_DELIVERY"
        ]
        result["estimatedDeliveryTimeWindow"] = {
            "window": {"begins": "2026-11-06T09:00:00-05:00", "ends": "2026-11-06T17:00:00"}
        }

    fact = result_fact("tracking_event__on_vehicle_for_delivery", window_only)
    assert fact.est_delivery == date(2026, 11, 6)


def test_an_empty_window_and_no_estimate_leave_the_estimate_unknown():
    assert webhook.only_fact("fedex", "tracking_event__delivered").est_delivery is None


def test_a_push_for_two_packages_gives_a_fact_for_each():
    def add_second_package(push):
        second = copy.deepcopy(push["output"]["completeTrackResults"][0])
        second["trackingNumber"] = "794644790145"
        second["trackResults"][0]["trackingNumberInfo"]["trackingNumber"] = "794644790145"
        push["output"]["completeTrackResults"].append(second)

    body = edited("fedex", "tracking_event__in_transit", add_second_package)
    facts = webhook.facts_of("fedex", "tracking_event__in_transit", body)
    assert [f.shipment.tracking_number for f in facts] == [TRACKING_NUMBER, "794644790145"]


def test_the_groups_tracking_number_serves_when_the_result_names_none():
    fact = result_fact("tracking_event__in_transit", lambda r: r.pop("trackingNumberInfo"))
    assert fact.shipment == PARCEL


def test_a_tracking_number_as_printed_names_the_same_parcel():
    def printed(result):
        result["trackingNumberInfo"]["trackingNumber"] = " 7946 4479 0132 "

    assert result_fact("tracking_event__in_transit", printed).shipment == PARCEL


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
    assert key_of(body) == key_of(edited("fedex", "tracking_event__delivered", edit))


@pytest.mark.parametrize(
    "edit",
    [
        lambda result: result["latestStatusDetail"].update(code="SE"),
        lambda result: result["scanEvents"][0].update(date="2026-11-05T12:48:00-05:00"),
        lambda result: result["scanEvents"][0].update(eventType="AR"),
        lambda result: result["trackingNumberInfo"].update(trackingNumber="794644790145"),
    ],
    ids=["another status", "another scan time", "another scan", "another parcel"],
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
    assert len({envelope_of("fedex", name).dedupe_key for name in names}) == len(names)


# --- Signatures and refusals

BODY = fixture_body("fedex", "tracking_event__delivered")


def signed_as(value: str | None) -> WebhookRequest:
    """The delivered push as FedEx sends it, with `value` (or nothing) as its fdx-signature."""
    request = webhook.signed("fedex", "tracking_event__delivered")
    return webhook.as_received(webhook.with_headers(request, {"fdx-signature": value}))


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(
            lambda: signed_as(signature(BODY, "AnotherSecurityToken2026xyz")),
            id="another token",
        ),
        pytest.param(lambda: signed_as(None), id="unsigned"),
        pytest.param(
            lambda: webhook.as_received(
                replace(
                    webhook.signed("fedex", "tracking_event__delivered"),
                    body=BODY.replace(b'"DL"', b'"DE"'),
                )
            ),
            id="body changed after signing",
        ),
        pytest.param(
            lambda: signed_as(hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()),
            id="hex digest",
        ),
        pytest.param(
            lambda: signed_as(
                signature(json.dumps(json.loads(BODY), separators=(",", ":")).encode())
            ),
            id="signed over the parsed json, not the raw bytes",
        ),
    ],
)
def test_a_push_not_signed_as_fedex_signs_is_refused(sent):
    with pytest.raises(BadSignature):
        webhook.accept("fedex", sent())


def test_after_rotation_both_the_new_and_the_old_token_verify():
    new_token = "NewSecurityToken2027AdaLovelace"
    rotated = webhook.credentials("fedex", secrets=(new_token, SECRET))
    old = envelope_of("fedex", "tracking_event__delivered", configured=rotated)
    new = envelope_of("fedex", "tracking_event__delivered", configured=rotated, secret=new_token)
    assert (old.topic, new.topic) == ("tracking_event", "tracking_event")


def test_with_no_token_configured_nothing_verifies():
    with pytest.raises(BadSignature):
        envelope_of(
            "fedex",
            "tracking_event__delivered",
            configured=webhook.credentials("fedex", secrets=()),
        )


def test_the_signature_header_name_is_case_insensitive_as_http_headers_are():
    request = webhook.signed("fedex", "tracking_event__delivered")
    shouted = replace(request, headers={"FDX-Signature": request.headers["fdx-signature"]})
    assert webhook.accept("fedex", shouted).topic == "tracking_event"


@pytest.mark.parametrize(
    "body",
    [b"{}", b'{"trackResults": []}', b"[]", b'"794644790132"'],
    ids=["empty object", "no output", "array", "string"],
)
def test_a_body_that_is_no_tracking_push_is_an_unknown_event(body):
    with pytest.raises(UnknownTopic):
        envelope_of("fedex", "x", body)


@pytest.mark.parametrize(
    "edit",
    [
        lambda push: push["output"].pop("completeTrackResults"),
        lambda push: push["output"].update(completeTrackResults=[]),
    ],
    ids=["missing", "empty"],
)
def test_a_push_without_track_results_names_them_before_it_is_stored(edit):
    body = edited("fedex", "tracking_event__delivered", edit)
    with pytest.raises(MissingFields) as refused:
        envelope_of("fedex", "tracking_event__delivered", body)
    assert "completeTrackResults" in refused.value.details["output"]


#: What a track result must carry, and the field a refusal names.
REQUIRED = [
    pytest.param(
        lambda result: result.pop("latestStatusDetail"), "latestStatusDetail", id="no status"
    ),
    pytest.param(lambda result: result["latestStatusDetail"].pop("code"), "code", id="no code"),
    pytest.param(
        lambda result: result["latestStatusDetail"].update(code=""), "code", id="empty code"
    ),
    pytest.param(
        lambda result: result["latestStatusDetail"].update(code="  "), "code", id="blank code"
    ),
    pytest.param(lambda result: result["scanEvents"][0].pop("date"), "date", id="no scan date"),
    pytest.param(
        lambda result: result["scanEvents"][0].update(date="yesterday"), "date", id="no date"
    ),
]


@pytest.mark.parametrize(("edit", "field"), REQUIRED)
def test_a_result_without_what_it_must_carry_is_refused_at_the_edge_naming_the_field(edit, field):
    body = with_result("tracking_event__delivered", edit)
    with pytest.raises(MissingFields) as refused:
        envelope_of("fedex", "tracking_event__delivered", body)
    assert field in json.dumps(refused.value.details)


@pytest.mark.parametrize(("edit", "field"), REQUIRED)
def test_a_stored_result_without_what_it_must_carry_is_refused_by_the_worker(edit, field):
    body = with_result("tracking_event__delivered", edit)
    with pytest.raises(MissingFields):
        webhook.normalized("fedex", "tracking_event", json.loads(body))


def test_fedexs_documented_signature_scheme_is_base64_of_hmac_sha256():
    expected = base64.b64encode(hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()).decode()
    assert signature(BODY) == expected
    assert webhook.accept("fedex", signed_as(expected)).topic == "tracking_event"
