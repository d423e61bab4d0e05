"""Shippo provider, pure: every fixture through one helper (verify -> envelope -> normalize),
every documented status and substatus against tables written from the documentation, the URL
token and the timestamped signature in every combination, and the ways a delivery is refused.
No database, no app."""

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from werkzeug.datastructures import Headers

from ordertrack.errors import BadSignature, MissingFields, UnknownTopic
from ordertrack.facts import Fact, ShipmentRef, TrackingFact
from ordertrack.providers import shippo
from ordertrack.providers.base import Credentials, Delivery, Envelope
from ordertrack.statuses import ShipmentStatus
from tests.support.sources.shippo import SECRET, TOKEN, signature
from tests.support.webhooks import Request, fixture_body, request_for

#: Our clock in these tests; requests are signed at it unless a test says otherwise.
NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
#: When ordertrack received a delivery: only a last resort for payloads without a time.
RECEIVED_AT = datetime(2026, 11, 10, 12, 0, 2, tzinfo=UTC)


def credentials(secrets=(SECRET,), tokens=(TOKEN,), tolerance=timedelta(minutes=5)):
    return Credentials(secrets=secrets, tokens=tokens, tolerance=tolerance, now=lambda: NOW)


BOTH = credentials()

# --- Documentation tables (docs.goshippo.com Tracking, "event definitions"; every source is listed
# in tests/fixtures/shippo/README.md). Written from the documented meaning of each code, not from
# ordertrack's table.

#: `tracking_status.status`: all 6 documented values.
DOCUMENTED_STATUSES = {
    "UNKNOWN": ShipmentStatus.UNKNOWN,  # nothing from the carrier yet: kept, never applied
    "PRE_TRANSIT": ShipmentStatus.LABEL_CREATED,  # label made, carrier lacks the parcel
    "TRANSIT": ShipmentStatus.IN_TRANSIT,
    "DELIVERED": ShipmentStatus.DELIVERED,
    "RETURNED": ShipmentStatus.RETURNED,
    "FAILURE": ShipmentStatus.EXCEPTION,  # lost, damaged, undeliverable: failed for good
}

#: `substatus.code`: all 27 documented codes, and the parcel's status under TRANSIT.
DOCUMENTED_SUBSTATUSES = {
    "information_received": ShipmentStatus.IN_TRANSIT,
    "address_issue": ShipmentStatus.EXCEPTION,  # must be fixed before it can arrive
    "contact_carrier": ShipmentStatus.EXCEPTION,
    "delayed": ShipmentStatus.EXCEPTION,
    "delivery_attempted": ShipmentStatus.DELIVERY_FAILED,
    "delivery_rescheduled": ShipmentStatus.IN_TRANSIT,
    "delivery_scheduled": ShipmentStatus.IN_TRANSIT,
    "location_inaccessible": ShipmentStatus.DELIVERY_FAILED,
    "notice_left": ShipmentStatus.DELIVERY_FAILED,
    "out_for_delivery": ShipmentStatus.OUT_FOR_DELIVERY,
    "package_accepted": ShipmentStatus.IN_TRANSIT,
    "package_arrived": ShipmentStatus.IN_TRANSIT,
    "package_damaged": ShipmentStatus.EXCEPTION,
    "package_departed": ShipmentStatus.IN_TRANSIT,
    "package_disposed": ShipmentStatus.EXCEPTION,
    "package_forwarded": ShipmentStatus.IN_TRANSIT,
    "package_held": ShipmentStatus.EXCEPTION,  # held at the carrier: contact the carrier
    "package_lost": ShipmentStatus.EXCEPTION,
    "package_processed": ShipmentStatus.IN_TRANSIT,
    "package_processing": ShipmentStatus.IN_TRANSIT,
    "package_unclaimed": ShipmentStatus.EXCEPTION,
    "package_undeliverable": ShipmentStatus.EXCEPTION,
    "pickup_available": ShipmentStatus.AVAILABLE_FOR_PICKUP,
    "reschedule_delivery": ShipmentStatus.DELIVERY_FAILED,  # the customer must call
    "return_to_sender": ShipmentStatus.RETURNED,
    "delivered": ShipmentStatus.IN_TRANSIT,  # under TRANSIT it cannot mean delivered yet
    "other": ShipmentStatus.IN_TRANSIT,  # unrecognised by Shippo: the status is all there is
}

# --- The story (tests/fixtures/shippo/README.md): USPS parcel of "Order #1042".

NUMBER = "9205590164917312751089"
PARCEL = ShipmentRef(tracking_number=NUMBER, carrier="usps")


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def usps(status, raw, substatus, at, message, est=date(2026, 11, 5)) -> TrackingFact:
    return TrackingFact(PARCEL, status, at, raw, substatus, message, "usps", est)


def status_key(object_id: str) -> str:
    return f"{NUMBER}:{object_id}"


# --- The one helper


def edited(name: str, edit: Callable[[dict], None]) -> bytes:
    """The fixture's JSON with one change, serialized as Shippo would send it."""
    payload = json.loads(fixture_body("shippo", name))
    edit(payload)
    return json.dumps(payload).encode()


def with_status(name: str, **changes) -> bytes:
    return edited(name, lambda event: event["data"]["tracking_status"].update(changes))


def delivery(request: Request) -> Delivery:
    return Delivery(body=request.body, headers=Headers(request.headers), query=request.query)


def signed_request(name: str, body: bytes | None = None, **options) -> Request:
    return request_for("shippo", name, body, **({"at": NOW} | options))


def receive(name: str, body: bytes | None = None) -> tuple[Envelope, list[Fact]]:
    """What the receiver and the worker do with one delivery, in order; every fact's time
    must come out as aware UTC."""
    request = signed_request(name, body)
    shippo.verify(delivery(request), BOTH)
    payload = json.loads(request.body)
    envelope = shippo.envelope(delivery(request), payload)
    facts = shippo.normalize(envelope.topic, payload, RECEIVED_AT) if envelope.handled else []
    for fact in facts:
        assert fact.occurred_at.utcoffset() == timedelta(0), fact
    return envelope, facts


def fact_of(name: str, body: bytes) -> TrackingFact:
    (fact,) = receive(name, body)[1]
    return fact


def check(name: str, object_id: str, fact: TrackingFact):
    envelope, facts = receive(name)
    assert envelope == Envelope("track_updated", status_key(object_id), handled=True)
    assert facts == [fact]


# --- One test per fixture


def test_unknown_is_kept_never_applied_without_estimate():
    check(
        "track_updated__unknown",
        "5b0f1c23a6d0ce2a5a5f39e352284906",
        usps(
            ShipmentStatus.UNKNOWN,
            "UNKNOWN",
            None,
            utc(2, 14, 1),
            "The carrier has not yet provided tracking information for this shipment.",
            est=None,
        ),
    )


def test_pre_transit_is_the_usps_label_at_1405():
    check(
        "track_updated__pre_transit",
        "8b3c8a76f8a8f2850201dd99c1a59246",
        usps(
            ShipmentStatus.LABEL_CREATED,
            "PRE_TRANSIT",
            "information_received",
            utc(2, 14, 5),
            "Shipping Label Created, USPS Awaiting Item",
            est=date(2026, 11, 4),
        ),
    )


def test_transit_package_accepted_is_in_transit_at_0800():
    check(
        "track_updated__transit",
        "570d7c310a5f64d0bcdea716ae4f51be",
        usps(
            ShipmentStatus.IN_TRANSIT,
            "TRANSIT",
            "package_accepted",
            utc(3, 8),
            "Accepted at USPS Origin Facility",
            est=date(2026, 11, 4),
        ),
    )


def test_transit_out_for_delivery_is_on_the_van_at_0730():
    check(
        "track_updated__out_for_delivery",
        "630e6991013d943e4798580dd273ad8e",
        usps(
            ShipmentStatus.OUT_FOR_DELIVERY,
            "TRANSIT",
            "out_for_delivery",
            utc(4, 7, 30),
            "Out for Delivery, Expected Delivery by 9:00pm",
            est=date(2026, 11, 4),
        ),
    )


def test_transit_delivery_attempted_is_a_failed_delivery_at_1220():
    check(
        "track_updated__delivery_attempted",
        "42d88ba23dab99f0417c6d22dfb625da",
        usps(
            ShipmentStatus.DELIVERY_FAILED,
            "TRANSIT",
            "delivery_attempted",
            utc(4, 12, 20),
            "Notice Left (No Authorized Recipient Available)",
        ),
    )


def test_delivered_is_at_the_front_door_at_1512_next_day():
    check(
        "track_updated__delivered",
        "d0d4ebee3b1fdb1102ee04971d8e1393",
        usps(
            ShipmentStatus.DELIVERED,
            "DELIVERED",
            "delivered",
            utc(5, 15, 12),
            "Delivered, Front Door/Porch",
        ),
    )


def test_returned_is_refused_and_on_its_way_back():
    check(
        "track_updated__returned",
        "a84e16bcfbfc2df178352ff618047c8e",
        usps(
            ShipmentStatus.RETURNED,
            "RETURNED",
            "return_to_sender",
            utc(5, 16, 5),
            "Refused, Return to Sender",
        ),
    )


def test_failure_package_lost_is_an_exception():
    check(
        "track_updated__failure",
        "64a0e0e792c6f743b127c61333f35167",
        usps(
            ShipmentStatus.EXCEPTION,
            "FAILURE",
            "package_lost",
            utc(9, 17),
            "Missing Mail Search Request Closed: Package Lost",
        ),
    )


def test_transaction_created_is_a_real_event_ordertrack_keeps_as_ignored():
    envelope, facts = receive("transaction_created")
    body = fixture_body("shippo", "transaction_created")
    digest = hashlib.sha256(body).hexdigest()
    assert envelope == Envelope(
        "transaction_created", f"transaction_created:sha256:{digest}", False
    )
    assert facts == []


@pytest.mark.parametrize(
    "event", ["transaction_created", "transaction_updated", "batch_created", "batch_purchased"]
)
def test_every_other_documented_event_answers_without_being_processed(event):
    payload = {"event": event, "test": False, "data": {"object_id": "b" * 32}}
    request = signed_request("transaction_created", json.dumps(payload).encode())
    assert shippo.envelope(delivery(request), payload).handled is False


# --- Every documented code


def test_every_documented_status_and_substatus_is_in_the_providers_tables():
    assert set(DOCUMENTED_STATUSES) <= set(shippo.STATUSES)
    assert set(DOCUMENTED_SUBSTATUSES) <= set(shippo.SUBSTATUSES)


@pytest.mark.parametrize(("status", "expected"), DOCUMENTED_STATUSES.items())
def test_status_maps_to_its_documented_meaning_with_the_raw_code_kept(status, expected):
    body = with_status("track_updated__transit", status=status, substatus=None)
    fact = fact_of("track_updated__transit", body)
    assert (fact.status, fact.raw_status, fact.detail) == (expected, status, None)


@pytest.mark.parametrize(("code", "expected"), DOCUMENTED_SUBSTATUSES.items())
def test_substatus_under_transit_maps_to_its_documented_meaning_and_is_kept(code, expected):
    substatus = {"code": code, "text": "…", "action_required": False}
    body = with_status("track_updated__transit", status="TRANSIT", substatus=substatus)
    fact = fact_of("track_updated__transit", body)
    assert (fact.status, fact.raw_status, fact.detail) == (expected, "TRANSIT", code)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("DELIVERED", "out_for_delivery"),
        ("RETURNED", "delivered"),
        ("PRE_TRANSIT", "delayed"),
        ("FAILURE", "pickup_available"),
        ("UNKNOWN", "out_for_delivery"),
    ],
)
def test_a_definite_status_is_not_overridden_by_its_substatus(status, code):
    substatus = {"code": code, "text": "…", "action_required": False}
    body = with_status("track_updated__transit", status=status, substatus=substatus)
    fact = fact_of("track_updated__transit", body)
    assert (fact.status, fact.detail) == (DOCUMENTED_STATUSES[status], code)


def test_an_undocumented_status_is_unknown_with_its_raw_code_never_in_transit():
    substatus = {"code": "out_for_delivery", "text": "…", "action_required": False}
    body = with_status("track_updated__transit", status="CANCELED", substatus=substatus)
    fact = fact_of("track_updated__transit", body)
    assert (fact.status, fact.raw_status) == (ShipmentStatus.UNKNOWN, "CANCELED")


def test_an_undocumented_substatus_leaves_the_decision_to_the_status_and_is_kept():
    substatus = {"code": "teleported", "text": "…", "action_required": False}
    body = with_status("track_updated__transit", substatus=substatus)
    fact = fact_of("track_updated__transit", body)
    assert (fact.status, fact.detail) == (ShipmentStatus.IN_TRANSIT, "teleported")


# --- Times, estimates, names


def test_without_a_scan_time_the_status_records_update_time_dates_it():
    body = with_status("track_updated__unknown", status_date=None)
    fact = fact_of("track_updated__unknown", body)
    assert fact.occurred_at == datetime(2026, 11, 2, 14, 5, 12, 527000, tzinfo=UTC)


def test_without_any_time_the_time_of_receipt_dates_it():
    body = with_status("track_updated__unknown", status_date=None, object_updated=None)
    assert fact_of("track_updated__unknown", body).occurred_at == RECEIVED_AT


def test_the_eta_is_the_calendar_day_as_shippo_wrote_it():
    def late_evening(event):
        event["data"]["eta"] = "2026-11-06T21:00:00-05:00"

    body = edited("track_updated__transit", late_evening)
    assert fact_of("track_updated__transit", body).est_delivery == date(2026, 11, 6)


def test_tracking_number_is_normalized_and_the_carrier_token_names_the_carrier():
    def spaced(event):
        event["data"]["tracking_number"] = " 9205 5901 6491 7312 7510 89 "

    fact = fact_of("track_updated__transit", edited("track_updated__transit", spaced))
    assert (fact.shipment, fact.carrier) == (PARCEL, "usps")


# --- Dedupe: Shippo sends no event id and warns its track webhooks are not idempotent


def test_the_same_scan_notified_twice_has_one_dedupe_key():
    # A number registered twice is notified twice: same status record, another delivery.
    again = edited("track_updated__transit", lambda event: event["data"].update(metadata="dup"))
    first = receive("track_updated__transit")[0]
    second = receive("track_updated__transit", again)[0]
    assert first.dedupe_key == second.dedupe_key == status_key("570d7c310a5f64d0bcdea716ae4f51be")


def test_each_new_scan_has_its_own_dedupe_key():
    keys = {
        receive(name)[0].dedupe_key
        for name in (
            "track_updated__transit",
            "track_updated__out_for_delivery",
            "track_updated__delivered",
        )
    }
    assert len(keys) == 3


def test_without_a_status_record_id_identical_bodies_share_a_key_and_others_do_not():
    body = with_status("track_updated__transit", object_id=None)
    other = with_status("track_updated__out_for_delivery", object_id=None)
    key = receive("track_updated__transit", body)[0].dedupe_key
    assert key == f"{NUMBER}:sha256:{hashlib.sha256(body).hexdigest()}"
    assert receive("track_updated__transit", body)[0].dedupe_key == key
    assert receive("track_updated__out_for_delivery", other)[0].dedupe_key != key


# --- Authentication: URL token, timestamped signature, both


def sent(request: Request, **changes) -> Delivery:
    """The request as it arrives, with headers or query replaced."""
    headers = changes.get("headers", request.headers)
    query = changes.get("query", request.query)
    return Delivery(body=changes.get("body", request.body), headers=Headers(headers), query=query)


def test_with_only_a_token_configured_the_url_token_suffices():
    request = signed_request("track_updated__transit", secrets=())
    assert "Shippo-Auth-Signature" not in request.headers
    shippo.verify(delivery(request), credentials(secrets=()))


@pytest.mark.parametrize("query", [{}, {"token": "guessed"}, {"token": ""}])
def test_with_a_token_configured_a_missing_or_wrong_token_is_refused(query):
    request = signed_request("track_updated__transit")
    with pytest.raises(BadSignature, match="token"):
        shippo.verify(sent(request, query=query), credentials(secrets=()))


def test_with_only_a_secret_configured_the_signature_suffices():
    request = signed_request("track_updated__transit", token=None)
    assert request.query == {}
    shippo.verify(delivery(request), credentials(tokens=()))


def test_with_both_configured_a_good_token_without_signature_is_refused():
    request = signed_request("track_updated__transit", secrets=())
    with pytest.raises(BadSignature, match="missing"):
        shippo.verify(delivery(request), BOTH)


def test_with_both_configured_a_good_signature_with_a_wrong_token_is_refused():
    request = signed_request("track_updated__transit", token="guessed")
    with pytest.raises(BadSignature, match="token"):
        shippo.verify(delivery(request), BOTH)


def test_with_neither_configured_everything_is_refused():
    request = signed_request("track_updated__transit")
    with pytest.raises(BadSignature):
        shippo.verify(delivery(request), credentials(secrets=(), tokens=()))


def test_the_signature_is_hex_hmac_sha256_of_timestamp_dot_raw_body():
    body = fixture_body("shippo", "track_updated__transit")
    stamp = str(int(NOW.timestamp()))
    digest = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {"Shippo-Auth-Signature": f"t={stamp},v1={digest}"}
    shippo.verify(Delivery(body, Headers(headers), {"token": TOKEN}), BOTH)


def test_a_signature_over_the_body_alone_is_refused():
    body = fixture_body("shippo", "track_updated__transit")
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Shippo-Auth-Signature": f"t={int(NOW.timestamp())},v1={digest}"}
    with pytest.raises(BadSignature, match="does not match"):
        shippo.verify(Delivery(body, Headers(headers), {"token": TOKEN}), BOTH)


def test_a_body_changed_after_signing_is_refused():
    request = signed_request("track_updated__transit")
    tampered = request.body.replace(b'"TRANSIT"', b'"DELIVERED"')
    assert tampered != request.body
    with pytest.raises(BadSignature):
        shippo.verify(sent(request, body=tampered), BOTH)


def test_a_signature_made_with_another_secret_is_refused():
    request = signed_request("track_updated__transit", secrets=("another secret",))
    with pytest.raises(BadSignature):
        shippo.verify(delivery(request), BOTH)


@pytest.mark.parametrize("age", [timedelta(seconds=301), timedelta(hours=2)])
def test_a_signature_older_than_the_tolerance_is_refused_as_a_replay(age):
    request = signed_request("track_updated__transit", at=NOW - age)
    with pytest.raises(BadSignature, match="replay"):
        shippo.verify(delivery(request), BOTH)


@pytest.mark.parametrize("ahead", [timedelta(seconds=301), timedelta(days=1)])
def test_a_signature_from_further_in_the_future_than_the_tolerance_is_refused(ahead):
    request = signed_request("track_updated__transit", at=NOW + ahead)
    with pytest.raises(BadSignature, match="replay"):
        shippo.verify(delivery(request), BOTH)


@pytest.mark.parametrize("skew", [timedelta(seconds=-299), timedelta(0), timedelta(seconds=299)])
def test_a_signature_within_the_tolerance_either_way_is_accepted(skew):
    shippo.verify(delivery(signed_request("track_updated__transit", at=NOW + skew)), BOTH)


def test_the_configured_tolerance_is_the_one_applied():
    request = signed_request("track_updated__transit", at=NOW - timedelta(seconds=90))
    shippo.verify(delivery(request), credentials(tolerance=timedelta(minutes=2)))
    with pytest.raises(BadSignature, match="replay"):
        shippo.verify(delivery(request), credentials(tolerance=timedelta(minutes=1)))


def test_any_of_several_v1_entries_may_carry_the_signature():
    request = signed_request("track_updated__transit", secrets=("someone else's", SECRET))
    assert request.headers["Shippo-Auth-Signature"].count("v1=") == 2
    shippo.verify(delivery(request), BOTH)


def test_during_rotation_the_old_and_the_new_secret_and_token_all_verify():
    rotating = credentials(secrets=("new secret", SECRET), tokens=("new token", TOKEN))
    shippo.verify(delivery(signed_request("track_updated__transit")), rotating)
    renewed = signed_request("track_updated__transit", secrets=("new secret",), token="new token")
    shippo.verify(delivery(renewed), rotating)


@pytest.mark.parametrize(
    "header",
    [
        "v1=" + "0" * 64,  # no timestamp
        f"t={int(NOW.timestamp())}",  # no signature
        f"t=yesterday,v1={'0' * 64}",
        "",
    ],
)
def test_a_malformed_signature_header_is_refused(header):
    request = signed_request("track_updated__transit")
    with pytest.raises(BadSignature):
        shippo.verify(sent(request, headers={"Shippo-Auth-Signature": header}), BOTH)


def test_the_support_signature_matches_what_the_verifier_accepts():
    body = fixture_body("shippo", "track_updated__transit")
    headers = {"Shippo-Auth-Signature": signature(body, NOW)}
    shippo.verify(Delivery(body, Headers(headers), {}), credentials(tokens=()))


# --- Refusals


def test_an_event_shippo_never_sends_is_unknown():
    body = edited("track_updated__transit", lambda event: event.update(event="track_created"))
    with pytest.raises(UnknownTopic):
        receive("track_updated__transit", body)


@pytest.mark.parametrize(
    "remove",
    [
        lambda event: event.pop("event"),
        lambda event: event.pop("data"),
        lambda event: event["data"].pop("tracking_number"),
        lambda event: event["data"].pop("carrier"),
        lambda event: event["data"].update(tracking_status=None),
        lambda event: event["data"]["tracking_status"].pop("status"),
    ],
    ids=["event", "data", "tracking_number", "carrier", "tracking_status", "status"],
)
def test_a_track_update_lacking_what_it_must_carry_is_refused_before_it_is_stored(remove):
    with pytest.raises(MissingFields):
        receive("track_updated__transit", edited("track_updated__transit", remove))
