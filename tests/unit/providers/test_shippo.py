"""Shippo provider, pure: every fixture through `check_webhook` (verify -> envelope ->
normalize), every documented status and substatus against tables written from the
documentation, the URL token and the timestamped signature in every combination, and the ways a
delivery is refused. No database, no app."""

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from werkzeug.datastructures import Headers

from ordertrack.errors import BadSignature, MissingFields, UnknownTopic
from ordertrack.facts import ShipmentRef, TrackingFact
from ordertrack.providers.base import Envelope, WebhookRequest
from ordertrack.providers.shippo.tables import STATUSES, SUBSTATUSES
from ordertrack.statuses import ShipmentStatus
from tests.support import check_webhook as webhook
from tests.support.check_webhook import check_webhook, edited, envelope_of, only_fact, utc
from tests.support.sources.shippo import SECRET, TOKEN, signature
from tests.support.webhooks import fixture_body

#: Requests are signed at our clock, webhook.NOW, unless a test says otherwise. Both proofs:
BOTH = webhook.credentials("shippo")

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


def usps(status, raw, substatus, at, message, est=date(2026, 11, 5)) -> TrackingFact:
    return TrackingFact(PARCEL, status, at, raw, substatus, message, "usps", est)


def status_key(object_id: str) -> str:
    return f"{NUMBER}:{object_id}"


def with_status(name: str, **changes) -> bytes:
    return edited("shippo", name, lambda event: event["data"]["tracking_status"].update(changes))


def transit_with(**changes) -> TrackingFact:
    """The one fact of the transit update, its tracking status changed."""
    return only_fact(
        "shippo", "track_updated__transit", with_status("track_updated__transit", **changes)
    )


#: What the receiver reads from the transit update, however it was proven to be Shippo's.
TRANSIT = Envelope("track_updated", status_key("570d7c310a5f64d0bcdea716ae4f51be"), handled=True)


# --- One test per fixture


def test_unknown_is_kept_never_applied_without_estimate():
    scan = usps(
        ShipmentStatus.UNKNOWN,
        "UNKNOWN",
        None,
        utc(2, 14, 1),
        "The carrier has not yet provided tracking information for this shipment.",
        est=None,
    )
    check_webhook("shippo", "track_updated__unknown", [scan], topic="track_updated")


def test_pre_transit_is_the_usps_label_at_1405():
    scan = usps(
        ShipmentStatus.LABEL_CREATED,
        "PRE_TRANSIT",
        "information_received",
        utc(2, 14, 5),
        "Shipping Label Created, USPS Awaiting Item",
        est=date(2026, 11, 4),
    )
    check_webhook("shippo", "track_updated__pre_transit", [scan], topic="track_updated")


def test_transit_package_accepted_is_in_transit_at_0800():
    scan = usps(
        ShipmentStatus.IN_TRANSIT,
        "TRANSIT",
        "package_accepted",
        utc(3, 8),
        "Accepted at USPS Origin Facility",
        est=date(2026, 11, 4),
    )
    check_webhook("shippo", "track_updated__transit", [scan], topic="track_updated")


def test_transit_out_for_delivery_is_on_the_van_at_0730():
    scan = usps(
        ShipmentStatus.OUT_FOR_DELIVERY,
        "TRANSIT",
        "out_for_delivery",
        utc(4, 7, 30),
        "Out for Delivery, Expected Delivery by 9:00pm",
        est=date(2026, 11, 4),
    )
    check_webhook("shippo", "track_updated__out_for_delivery", [scan], topic="track_updated")


def test_transit_delivery_attempted_is_a_failed_delivery_at_1220():
    scan = usps(
        ShipmentStatus.DELIVERY_FAILED,
        "TRANSIT",
        "delivery_attempted",
        utc(4, 12, 20),
        "Notice Left (No Authorized Recipient Available)",
    )
    check_webhook("shippo", "track_updated__delivery_attempted", [scan], topic="track_updated")


def test_delivered_is_at_the_front_door_at_1512_next_day():
    scan = usps(
        ShipmentStatus.DELIVERED,
        "DELIVERED",
        "delivered",
        utc(5, 15, 12),
        "Delivered, Front Door/Porch",
    )
    check_webhook("shippo", "track_updated__delivered", [scan], topic="track_updated")


def test_returned_is_refused_and_on_its_way_back():
    scan = usps(
        ShipmentStatus.RETURNED,
        "RETURNED",
        "return_to_sender",
        utc(5, 16, 5),
        "Refused, Return to Sender",
    )
    check_webhook("shippo", "track_updated__returned", [scan], topic="track_updated")


def test_failure_package_lost_is_an_exception():
    scan = usps(
        ShipmentStatus.EXCEPTION,
        "FAILURE",
        "package_lost",
        utc(9, 17),
        "Missing Mail Search Request Closed: Package Lost",
    )
    check_webhook("shippo", "track_updated__failure", [scan], topic="track_updated")


def test_transaction_created_is_a_real_event_ordertrack_keeps_as_ignored():
    envelope = check_webhook(
        "shippo", "transaction_created", [], topic="transaction_created", handled=False
    )
    digest = hashlib.sha256(fixture_body("shippo", "transaction_created")).hexdigest()
    assert envelope.dedupe_key == f"transaction_created:sha256:{digest}"


@pytest.mark.parametrize(
    "event", ["transaction_created", "transaction_updated", "batch_created", "batch_purchased"]
)
def test_every_other_documented_event_answers_without_being_processed(event):
    payload = {"event": event, "test": False, "data": {"object_id": "b" * 32}}
    envelope = envelope_of("shippo", "transaction_created", json.dumps(payload).encode())
    assert (envelope.topic, envelope.handled) == (event, False)


#: Each track update's key: the parcel and the id of its tracking status record.
STATUS_KEYS = {
    "track_updated__unknown": status_key("5b0f1c23a6d0ce2a5a5f39e352284906"),
    "track_updated__pre_transit": status_key("8b3c8a76f8a8f2850201dd99c1a59246"),
    "track_updated__transit": status_key("570d7c310a5f64d0bcdea716ae4f51be"),
    "track_updated__out_for_delivery": status_key("630e6991013d943e4798580dd273ad8e"),
    "track_updated__delivery_attempted": status_key("42d88ba23dab99f0417c6d22dfb625da"),
    "track_updated__delivered": status_key("d0d4ebee3b1fdb1102ee04971d8e1393"),
    "track_updated__returned": status_key("a84e16bcfbfc2df178352ff618047c8e"),
    "track_updated__failure": status_key("64a0e0e792c6f743b127c61333f35167"),
}


@pytest.mark.parametrize("name", STATUS_KEYS)
def test_each_track_update_is_deduplicated_by_its_status_record(name):
    assert envelope_of("shippo", name).dedupe_key == STATUS_KEYS[name]


# --- Every documented code


def test_every_documented_status_and_substatus_is_in_the_providers_tables():
    assert set(DOCUMENTED_STATUSES) <= set(STATUSES)
    assert set(DOCUMENTED_SUBSTATUSES) <= set(SUBSTATUSES)


def substatus(code: str) -> dict:
    return {"code": code, "text": "…", "action_required": False}


@pytest.mark.parametrize(("status", "expected"), DOCUMENTED_STATUSES.items())
def test_status_maps_to_its_documented_meaning_with_the_raw_code_kept(status, expected):
    fact = transit_with(status=status, substatus=None)
    assert (fact.status, fact.raw_status, fact.detail) == (expected, status, None)


@pytest.mark.parametrize(("code", "expected"), DOCUMENTED_SUBSTATUSES.items())
def test_substatus_under_transit_maps_to_its_documented_meaning_and_is_kept(code, expected):
    fact = transit_with(status="TRANSIT", substatus=substatus(code))
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
    fact = transit_with(status=status, substatus=substatus(code))
    assert (fact.status, fact.detail) == (DOCUMENTED_STATUSES[status], code)


def test_an_undocumented_status_is_unknown_with_its_raw_code_never_in_transit():
    fact = transit_with(status="CANCELED", substatus=substatus("out_for_delivery"))
    assert (fact.status, fact.raw_status) == (ShipmentStatus.UNKNOWN, "CANCELED")


def test_an_undocumented_substatus_leaves_the_decision_to_the_status_and_is_kept():
    fact = transit_with(substatus=substatus("teleported"))
    assert (fact.status, fact.detail) == (ShipmentStatus.IN_TRANSIT, "teleported")


# --- Times, estimates, names


def test_without_a_scan_time_the_status_records_update_time_dates_it():
    body = with_status("track_updated__unknown", status_date=None)
    fact = only_fact("shippo", "track_updated__unknown", body)
    assert fact.occurred_at == datetime(2026, 11, 2, 14, 5, 12, 527000, tzinfo=UTC)


def test_without_any_time_the_time_of_receipt_dates_it():
    body = with_status("track_updated__unknown", status_date=None, object_updated=None)
    fact = only_fact("shippo", "track_updated__unknown", body)
    assert fact.occurred_at == webhook.RECEIVED_AT["shippo"]


def test_the_eta_is_the_calendar_day_as_shippo_wrote_it():
    def late_evening(event):
        event["data"]["eta"] = "2026-11-06T21:00:00-05:00"

    body = edited("shippo", "track_updated__transit", late_evening)
    assert only_fact("shippo", "track_updated__transit", body).est_delivery == date(2026, 11, 6)


def test_tracking_number_is_normalized_and_the_carrier_token_names_the_carrier():
    def spaced(event):
        event["data"]["tracking_number"] = " 9205 5901 6491 7312 7510 89 "

    fact = only_fact(
        "shippo", "track_updated__transit", edited("shippo", "track_updated__transit", spaced)
    )
    assert (fact.shipment, fact.carrier) == (PARCEL, "usps")


# --- Dedupe: Shippo sends no event id and warns its track webhooks are not idempotent


def test_the_same_scan_notified_twice_has_one_dedupe_key():
    # A number registered twice is notified twice: same status record, another delivery.
    again = edited("shippo", "track_updated__transit", lambda e: e["data"].update(metadata="dup"))
    first = envelope_of("shippo", "track_updated__transit")
    second = envelope_of("shippo", "track_updated__transit", again)
    assert first.dedupe_key == second.dedupe_key == TRANSIT.dedupe_key


def test_each_new_scan_has_its_own_dedupe_key():
    keys = {
        envelope_of("shippo", name).dedupe_key
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
    key = envelope_of("shippo", "track_updated__transit", body).dedupe_key
    assert key == f"{NUMBER}:sha256:{hashlib.sha256(body).hexdigest()}"
    assert envelope_of("shippo", "track_updated__transit", body).dedupe_key == key
    assert envelope_of("shippo", "track_updated__out_for_delivery", other).dedupe_key != key


# --- Authentication: URL token, timestamped signature, both


def transit(**signing) -> WebhookRequest:
    """The transit update as it arrives, proven as `signing` says (by default: both ways)."""
    return webhook.as_received(webhook.signed("shippo", "track_updated__transit", **signing))


def test_with_only_a_token_configured_the_url_token_suffices():
    sent = transit(secrets=())
    assert "Shippo-Auth-Signature" not in sent.headers
    assert webhook.accept("shippo", sent, webhook.credentials("shippo", secrets=())) == TRANSIT


@pytest.mark.parametrize(
    "query", [{}, {"token": "guessed"}, {"token": ""}], ids=["none", "guessed", "empty"]
)
def test_with_a_token_configured_a_missing_or_wrong_token_is_refused(query):
    request = replace(webhook.signed("shippo", "track_updated__transit"), query=query)
    with pytest.raises(BadSignature, match="token"):
        webhook.accept("shippo", request, webhook.credentials("shippo", secrets=()))


def test_with_only_a_secret_configured_the_signature_suffices():
    sent = transit(token=None)
    assert sent.query == {}
    assert webhook.accept("shippo", sent, webhook.credentials("shippo", tokens=())) == TRANSIT


def test_with_both_configured_a_good_token_without_signature_is_refused():
    with pytest.raises(BadSignature, match="missing"):
        webhook.accept("shippo", transit(secrets=()), BOTH)


def test_with_both_configured_a_good_signature_with_a_wrong_token_is_refused():
    with pytest.raises(BadSignature, match="token"):
        webhook.accept("shippo", transit(token="guessed"), BOTH)


def test_with_neither_configured_everything_is_refused():
    with pytest.raises(BadSignature):
        webhook.accept("shippo", transit(), webhook.credentials("shippo", secrets=(), tokens=()))


def test_the_signature_is_hex_hmac_sha256_of_timestamp_dot_raw_body():
    body = fixture_body("shippo", "track_updated__transit")
    stamp = str(int(webhook.NOW.timestamp()))
    digest = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {"Shippo-Auth-Signature": f"t={stamp},v1={digest}"}
    assert (
        webhook.accept("shippo", WebhookRequest(body, Headers(headers), {"token": TOKEN}), BOTH)
        == TRANSIT
    )


def test_a_signature_over_the_body_alone_is_refused():
    body = fixture_body("shippo", "track_updated__transit")
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Shippo-Auth-Signature": f"t={int(webhook.NOW.timestamp())},v1={digest}"}
    with pytest.raises(BadSignature, match="does not match"):
        webhook.accept("shippo", WebhookRequest(body, Headers(headers), {"token": TOKEN}), BOTH)


def test_a_body_changed_after_signing_is_refused():
    request = webhook.signed("shippo", "track_updated__transit")
    tampered = request.body.replace(b'"TRANSIT"', b'"DELIVERED"')
    assert tampered != request.body
    with pytest.raises(BadSignature):
        webhook.accept("shippo", replace(request, body=tampered), BOTH)


def test_a_signature_made_with_another_secret_is_refused():
    with pytest.raises(BadSignature):
        webhook.accept("shippo", transit(secrets=("another secret",)), BOTH)


@pytest.mark.parametrize("age", [timedelta(seconds=301), timedelta(hours=2)])
def test_a_signature_older_than_the_tolerance_is_refused_as_a_replay(age):
    with pytest.raises(BadSignature, match="replay"):
        webhook.accept("shippo", transit(at=webhook.NOW - age), BOTH)


@pytest.mark.parametrize("ahead", [timedelta(seconds=301), timedelta(days=1)])
def test_a_signature_from_further_in_the_future_than_the_tolerance_is_refused(ahead):
    with pytest.raises(BadSignature, match="replay"):
        webhook.accept("shippo", transit(at=webhook.NOW + ahead), BOTH)


@pytest.mark.parametrize("skew", [timedelta(seconds=-299), timedelta(0), timedelta(seconds=299)])
def test_a_signature_within_the_tolerance_either_way_is_accepted(skew):
    assert webhook.accept("shippo", transit(at=webhook.NOW + skew), BOTH) == TRANSIT


def test_the_configured_tolerance_is_the_one_applied():
    sent = transit(at=webhook.NOW - timedelta(seconds=90))
    assert (
        webhook.accept(
            "shippo", sent, webhook.credentials("shippo", tolerance=timedelta(minutes=2))
        )
        == TRANSIT
    )
    with pytest.raises(BadSignature, match="replay"):
        webhook.accept(
            "shippo", sent, webhook.credentials("shippo", tolerance=timedelta(minutes=1))
        )


def test_any_of_several_v1_entries_may_carry_the_signature():
    sent = transit(secrets=("someone else's", SECRET))
    assert sent.headers["Shippo-Auth-Signature"].count("v1=") == 2
    assert webhook.accept("shippo", sent, BOTH) == TRANSIT


def test_during_rotation_the_old_and_the_new_secret_and_token_all_verify():
    rotating = webhook.credentials(
        "shippo", secrets=("new secret", SECRET), tokens=("new token", TOKEN)
    )
    assert webhook.accept("shippo", transit(), rotating) == TRANSIT
    renewed = transit(secrets=("new secret",), token="new token")
    assert webhook.accept("shippo", renewed, rotating) == TRANSIT


@pytest.mark.parametrize(
    "header",
    [
        "v1=" + "0" * 64,
        f"t={int(webhook.NOW.timestamp())}",
        f"t=yesterday,v1={'0' * 64}",
        "",
    ],
    ids=["no timestamp", "no signature", "a timestamp that is no number", "empty"],
)
def test_a_malformed_signature_header_is_refused(header):
    request = replace(
        webhook.signed("shippo", "track_updated__transit"),
        headers={"Shippo-Auth-Signature": header},
    )
    with pytest.raises(BadSignature):
        webhook.accept("shippo", request, BOTH)


def test_the_support_signature_matches_what_the_verifier_accepts():
    body = fixture_body("shippo", "track_updated__transit")
    headers = {"Shippo-Auth-Signature": signature(body, webhook.NOW)}
    sent = WebhookRequest(body, Headers(headers), {})
    assert webhook.accept("shippo", sent, webhook.credentials("shippo", tokens=())) == TRANSIT


# --- Refusals


def test_an_event_shippo_never_sends_is_unknown():
    body = edited("shippo", "track_updated__transit", event="track_created")
    with pytest.raises(UnknownTopic):
        envelope_of("shippo", "track_updated__transit", body)


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
        envelope_of(
            "shippo", "track_updated__transit", edited("shippo", "track_updated__transit", remove)
        )
