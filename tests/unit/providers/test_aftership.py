"""AfterShip provider, pure: every fixture through one helper (verify -> envelope -> normalize),
every documented tag and subtag against tables written from the documentation, and the ways a
delivery is refused. No database, no app."""

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from werkzeug.datastructures import Headers

from ordertrack.errors import BadSignature, MissingFields, UnknownTopic
from ordertrack.facts import Fact, ShipmentRef, TrackingFact
from ordertrack.providers import aftership
from ordertrack.providers.base import Credentials, Delivery, Envelope
from ordertrack.statuses import ShipmentStatus
from tests.support.sources.aftership import SECRET, signature
from tests.support.webhooks import Request, fixture_body, request_for

#: When ordertrack received a delivery: only a last resort for payloads without a time.
RECEIVED_AT = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
CREDENTIALS = Credentials(secrets=(SECRET,))

# --- Documentation tables (AfterShip Delivery Statuses and Delivery Sub-statuses enums, 2025-04 and
# 2026-07; sources in tests/fixtures/aftership/README.md). Written from the documented meaning of
# each code, not from ordertrack's table.

#: `tag`: all 9 documented delivery statuses.
DOCUMENTED_TAGS = {
    "Pending": ShipmentStatus.UNKNOWN,  # no carrier information yet: kept, never applied
    "InfoReceived": ShipmentStatus.LABEL_CREATED,  # carrier has the data, not the parcel
    "InTransit": ShipmentStatus.IN_TRANSIT,
    "OutForDelivery": ShipmentStatus.OUT_FOR_DELIVERY,
    "AttemptFail": ShipmentStatus.DELIVERY_FAILED,
    "Delivered": ShipmentStatus.DELIVERED,
    "AvailableForPickup": ShipmentStatus.AVAILABLE_FOR_PICKUP,
    "Exception": ShipmentStatus.EXCEPTION,
    "Expired": ShipmentStatus.UNKNOWN,  # AfterShip stopped hearing: says nothing of the parcel
}

#: `subtag`: every documented sub-status and what the parcel's status is under it.
DOCUMENTED_SUBTAGS = {
    "InfoReceived_001": ShipmentStatus.LABEL_CREATED,
    **{f"InTransit_00{n}": ShipmentStatus.IN_TRANSIT for n in range(1, 10)},
    **{f"InTransit_01{n}": ShipmentStatus.IN_TRANSIT for n in (1, 2, 3)},  # 2026-07
    "OutForDelivery_001": ShipmentStatus.OUT_FOR_DELIVERY,
    "OutForDelivery_002": ShipmentStatus.AVAILABLE_FOR_PICKUP,  # older lists: at the counter
    "OutForDelivery_003": ShipmentStatus.OUT_FOR_DELIVERY,  # customer contacted
    "OutForDelivery_004": ShipmentStatus.OUT_FOR_DELIVERY,  # appointment scheduled
    **{f"AttemptFail_00{n}": ShipmentStatus.DELIVERY_FAILED for n in (1, 2, 3)},
    "AvailableForPickup_001": ShipmentStatus.AVAILABLE_FOR_PICKUP,
    **{f"Delivered_00{n}": ShipmentStatus.DELIVERED for n in range(1, 6)},  # _002 picked up
    **{f"Exception_00{n}": ShipmentStatus.EXCEPTION for n in range(1, 10)},
    "Exception_010": ShipmentStatus.RETURNED,  # returning to sender
    "Exception_011": ShipmentStatus.RETURNED,  # returned to sender
    "Exception_012": ShipmentStatus.EXCEPTION,  # damaged
    "Exception_013": ShipmentStatus.EXCEPTION,  # lost
    "Exception_016": ShipmentStatus.EXCEPTION,  # delayed, processing issue
    "Exception_017": ShipmentStatus.EXCEPTION,  # delayed, extreme weather
    "Exception_018": ShipmentStatus.EXCEPTION,  # incorrect or missing documents
    "Exception_019": ShipmentStatus.EXCEPTION,  # delayed, late flight
    "Exception_020": ShipmentStatus.CANCELLED,  # voided or cancelled by sender or carrier
    "Exception_021": ShipmentStatus.EXCEPTION,  # disposed of
    **{f"Pending_00{n}": ShipmentStatus.UNKNOWN for n in range(1, 7)},
    "Expired_001": ShipmentStatus.UNKNOWN,
}

# --- The story (tests/fixtures/aftership/README.md): USPS parcel of order #1042.

NUMBER = "9400111899223344550101"
PARCEL = ShipmentRef(tracking_number=NUMBER, carrier="usps")


def utc(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def usps(
    status: ShipmentStatus,
    tag: str,
    subtag: str,
    at: datetime,
    message: str,
    est: date | None = date(2026, 11, 5),
) -> TrackingFact:
    return TrackingFact(PARCEL, status, at, tag, subtag, message, "usps", est)


# --- The one helper


def edited(name: str, edit: Callable[[dict], None]) -> bytes:
    """The fixture's JSON with one change, serialized as AfterShip would send it."""
    payload = json.loads(fixture_body("aftership", name))
    edit(payload)
    return json.dumps(payload).encode()


def with_msg(name: str, **changes) -> bytes:
    return edited(name, lambda event: event["msg"].update(changes))


def delivery(request: Request) -> Delivery:
    return Delivery(body=request.body, headers=Headers(request.headers), query=request.query)


def receive(name: str, body: bytes | None = None) -> tuple[Envelope, list[Fact]]:
    """What the receiver and the worker do with one delivery, in order; every fact's time
    must come out as aware UTC."""
    request = request_for("aftership", name, body)
    aftership.verify(delivery(request), CREDENTIALS)
    payload = json.loads(request.body)
    envelope = aftership.envelope(delivery(request), payload)
    facts = aftership.normalize(envelope.topic, payload, RECEIVED_AT) if envelope.handled else []
    for fact in facts:
        assert fact.occurred_at.utcoffset() == timedelta(0), fact
    return envelope, facts


def fact_of(name: str, body: bytes) -> TrackingFact:
    (fact,) = receive(name, body)[1]
    return fact


def check(name: str, event_id: str, fact: TrackingFact):
    envelope, facts = receive(name)
    assert envelope == Envelope(topic="tracking_update", dedupe_key=event_id, handled=True)
    assert facts == [fact]


# --- One test per fixture


def test_pending_is_unknown_dated_when_aftership_added_it():
    check(
        "tracking_update__pending",
        "a0de95dc-d8a4-4d58-a1e7-4fe7bf6aa7d3",
        usps(
            ShipmentStatus.UNKNOWN, "Pending", "Pending_001", utc(11, 2, 14, 0, 30), "Pending", None
        ),
    )


def test_info_received_is_the_usps_label_at_1405():
    check(
        "tracking_update__info_received",
        "0b78f9fe-15e2-4163-ae0e-46935a14f0c4",
        usps(
            ShipmentStatus.LABEL_CREATED,
            "InfoReceived",
            "InfoReceived_001",
            utc(11, 2, 14, 5),
            "Info Received",
            date(2026, 11, 4),
        ),
    )


def test_in_transit_is_the_acceptance_scan_at_0800():
    check(
        "tracking_update__in_transit",
        "40b4dbf2-2031-4d48-982c-0bcef2c9b6da",
        usps(
            ShipmentStatus.IN_TRANSIT,
            "InTransit",
            "InTransit_002",
            utc(11, 3, 8),
            "Acceptance scan",
            date(2026, 11, 4),
        ),
    )


def test_out_for_delivery_is_on_the_van_at_0730():
    check(
        "tracking_update__out_for_delivery",
        "a71f1fbd-084d-4c44-919c-f00b16130521",
        usps(
            ShipmentStatus.OUT_FOR_DELIVERY,
            "OutForDelivery",
            "OutForDelivery_001",
            utc(11, 4, 7, 30),
            "Out for Delivery",
            date(2026, 11, 4),
        ),
    )


def test_attempt_fail_is_a_failed_delivery_at_1220_with_the_estimate_moved_a_day():
    check(
        "tracking_update__attempt_fail",
        "e3615675-1bba-465c-8649-81b80ad2a429",
        usps(
            ShipmentStatus.DELIVERY_FAILED,
            "AttemptFail",
            "AttemptFail_002",
            utc(11, 4, 12, 20),
            "Addressee not available",
        ),
    )


def test_available_for_pickup_waits_at_the_post_office_from_0915_next_day():
    check(
        "tracking_update__available_for_pickup",
        "aeddc14b-b560-46dd-b5f3-e7b69fb7861d",
        usps(
            ShipmentStatus.AVAILABLE_FOR_PICKUP,
            "AvailableForPickup",
            "AvailableForPickup_001",
            utc(11, 5, 9, 15),
            "Available for pickup",
        ),
    )


def test_delivered_is_picked_up_at_the_post_office_at_1640():
    check(
        "tracking_update__delivered",
        "2d683ba1-ebb5-49d9-94b8-0bd9857cea7f",
        usps(
            ShipmentStatus.DELIVERED,
            "Delivered",
            "Delivered_002",
            utc(11, 5, 16, 40),
            "Picked up by the customer",
        ),
    )


def test_exception_returning_to_sender_is_returned_with_the_exception_tag_kept():
    check(
        "tracking_update__exception_returning_to_sender",
        "78d8b1ac-a67f-440a-a50d-9a418bae60b6",
        usps(
            ShipmentStatus.RETURNED,
            "Exception",
            "Exception_010",
            utc(11, 20, 13),
            "Returning to sender",
        ),
    )


def test_expired_is_unknown_dated_when_aftership_gave_up():
    check(
        "tracking_update__expired",
        "9030de9e-d3f7-48de-ab69-524564ffba7d",
        usps(
            ShipmentStatus.UNKNOWN, "Expired", "Expired_001", utc(12, 2, 14, 0, 40), "Expired", None
        ),
    )


@pytest.mark.parametrize(
    ("name", "event_id"),
    [
        ("edd_revise", "a8240755-e73b-410c-bac7-285083004b34"),
        ("tracking_pending_time", "4ff45543-5c84-463d-b1ed-0f5f7d766b40"),
    ],
)
def test_a_real_event_ordertrack_does_not_use_is_kept_as_ignored(name, event_id):
    envelope, facts = receive(name)
    assert envelope == Envelope(topic=name, dedupe_key=event_id, handled=False)
    assert facts == []


# --- Every documented code


def test_every_documented_tag_and_subtag_is_in_the_providers_tables():
    assert set(DOCUMENTED_TAGS) <= set(aftership.TAGS)
    assert set(DOCUMENTED_SUBTAGS) <= set(aftership.SUBTAGS)


@pytest.mark.parametrize(("tag", "expected"), DOCUMENTED_TAGS.items())
def test_tag_maps_to_its_documented_meaning_with_the_raw_code_kept(tag, expected):
    fact = fact_of("tracking_update__in_transit", with_msg("tracking_update__in_transit", tag=tag))
    assert (fact.status, fact.raw_status) == (expected, tag)


@pytest.mark.parametrize(("subtag", "expected"), DOCUMENTED_SUBTAGS.items())
def test_subtag_under_its_own_tag_maps_to_its_documented_meaning_and_is_kept(subtag, expected):
    tag = subtag.split("_")[0]
    body = with_msg("tracking_update__in_transit", tag=tag, subtag=subtag)
    fact = fact_of("tracking_update__in_transit", body)
    assert (fact.status, fact.raw_status, fact.detail) == (expected, tag, subtag)


def test_an_undocumented_tag_is_unknown_with_its_raw_code_never_in_transit():
    body = with_msg("tracking_update__in_transit", tag="Teleported", subtag="Teleported_001")
    fact = fact_of("tracking_update__in_transit", body)
    assert (fact.status, fact.raw_status, fact.detail) == (
        ShipmentStatus.UNKNOWN,
        "Teleported",
        "Teleported_001",
    )


def test_an_undocumented_subtag_leaves_the_decision_to_its_tag_and_is_kept():
    body = with_msg("tracking_update__in_transit", tag="Exception", subtag="Exception_099")
    fact = fact_of("tracking_update__in_transit", body)
    assert (fact.status, fact.detail) == (ShipmentStatus.EXCEPTION, "Exception_099")


def test_a_subtag_of_another_tag_decides_nothing():
    body = with_msg("tracking_update__in_transit", tag="InTransit", subtag="Exception_011")
    fact = fact_of("tracking_update__in_transit", body)
    assert (fact.status, fact.detail) == (ShipmentStatus.IN_TRANSIT, "Exception_011")


def test_a_pending_tag_with_any_subtag_is_never_applied():
    body = with_msg("tracking_update__in_transit", tag="Pending", subtag="Pending_006")
    assert fact_of("tracking_update__in_transit", body).status is ShipmentStatus.UNKNOWN


# --- Times, estimates, names


def test_the_newest_checkpoint_dates_the_event_whatever_its_position():
    def shuffle(event):
        event["msg"]["checkpoints"].reverse()

    body = edited("tracking_update__delivered", shuffle)
    assert fact_of("tracking_update__delivered", body).occurred_at == utc(11, 5, 16, 40)


def test_a_checkpoint_time_without_offset_is_not_guessed_as_utc():
    def local_only(event):
        event["msg"]["checkpoints"][-1]["checkpoint_time"] = "2026-11-05T23:59:00"

    body = edited("tracking_update__delivered", local_only)
    # The pickup at 09:15Z is the newest checkpoint that can be placed.
    assert fact_of("tracking_update__delivered", body).occurred_at == utc(11, 5, 9, 15)


def test_without_placeable_checkpoints_the_events_ts_dates_it():
    body = with_msg("tracking_update__in_transit", checkpoints=[])
    assert fact_of("tracking_update__in_transit", body).occurred_at == utc(11, 3, 8, 6)


def test_without_checkpoints_or_ts_the_time_of_receipt_dates_it():
    def bare(event):
        event["msg"]["checkpoints"] = None
        del event["ts"]

    body = edited("tracking_update__in_transit", bare)
    assert fact_of("tracking_update__in_transit", body).occurred_at == RECEIVED_AT


def test_without_a_subtag_message_the_newest_checkpoint_message_is_kept():
    body = with_msg("tracking_update__attempt_fail", subtag_message=None)
    fact = fact_of("tracking_update__attempt_fail", body)
    assert fact.message == "Notice Left (No Authorized Recipient Available)"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # The latest estimate, the calendar day as written (21:00 in New York is the 4th).
        ({"latest_estimated_delivery": {"datetime": "2026-11-04T21:00:00-05:00"}}, 4),
        # A range: the day not to be late by.
        ({"latest_estimated_delivery": {"type": "range", "datetime_max": "2026-11-07"}}, 7),
        (
            {
                "latest_estimated_delivery": None,
                "aftership_estimated_delivery_date": {"estimated_delivery_date": "2026-11-08"},
            },
            8,
        ),
        ({"latest_estimated_delivery": None}, 5),  # the carrier's own, in the fixture
        (
            {
                "latest_estimated_delivery": None,
                "courier_estimated_delivery_date": None,
                "expected_delivery": "2026-11-09T00:00:00",
            },
            9,
        ),
    ],
)
def test_the_estimate_is_the_first_one_given_in_order_of_trust(changes, expected):
    fact = fact_of(
        "tracking_update__attempt_fail", with_msg("tracking_update__attempt_fail", **changes)
    )
    assert fact.est_delivery == date(2026, 11, expected)


def test_an_unreadable_estimate_is_skipped_not_a_failed_event():
    body = with_msg(
        "tracking_update__attempt_fail",
        latest_estimated_delivery={"datetime": "soon"},
        courier_estimated_delivery_date=None,
    )
    assert fact_of("tracking_update__attempt_fail", body).est_delivery is None


def test_tracking_number_is_normalized_and_the_slug_names_the_carrier():
    body = with_msg("tracking_update__in_transit", tracking_number=" 9400 1118 9922 3344 5501 01 ")
    fact = fact_of("tracking_update__in_transit", body)
    assert (fact.shipment, fact.carrier) == (PARCEL, "usps")


# --- Signatures and refusals


def signed(body: bytes, value: str | None) -> Delivery:
    headers = {"Content-Type": "application/json"}
    if value is not None:
        headers["aftership-hmac-sha256"] = value
    return Delivery(body=body, headers=Headers(headers), query={})


def test_the_signature_is_base64_hmac_sha256_of_the_raw_body_keyed_by_the_utf8_secret():
    body = fixture_body("aftership", "tracking_update__delivered")
    digest = hmac.new(SECRET.encode("utf-8"), body, hashlib.sha256).digest()
    aftership.verify(signed(body, base64.b64encode(digest).decode()), CREDENTIALS)


def test_a_secret_keyed_in_another_encoding_is_refused():
    body = fixture_body("aftership", "tracking_update__delivered")
    digest = hmac.new(SECRET.encode("latin-1"), body, hashlib.sha256).digest()
    with pytest.raises(BadSignature):
        aftership.verify(signed(body, base64.b64encode(digest).decode()), CREDENTIALS)


def test_a_hex_digest_is_refused():
    body = fixture_body("aftership", "tracking_update__delivered")
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    with pytest.raises(BadSignature):
        aftership.verify(signed(body, digest), CREDENTIALS)


def test_a_signature_made_with_another_secret_is_refused():
    body = fixture_body("aftership", "tracking_update__delivered")
    with pytest.raises(BadSignature):
        aftership.verify(signed(body, signature(body, "another secret")), CREDENTIALS)


def test_a_body_changed_after_signing_is_refused():
    body = fixture_body("aftership", "tracking_update__in_transit")
    tampered = body.replace(b'"tag": "InTransit"', b'"tag": "Delivered"')
    assert tampered != body
    with pytest.raises(BadSignature):
        aftership.verify(signed(tampered, signature(body)), CREDENTIALS)


def test_a_delivery_without_signature_is_refused():
    body = fixture_body("aftership", "tracking_update__delivered")
    with pytest.raises(BadSignature, match="missing"):
        aftership.verify(signed(body, None), CREDENTIALS)


def test_during_rotation_the_old_and_the_new_secret_both_verify():
    body = fixture_body("aftership", "tracking_update__delivered")
    rotating = Credentials(secrets=("the new secret", SECRET))
    aftership.verify(signed(body, signature(body, SECRET)), rotating)
    aftership.verify(signed(body, signature(body, "the new secret")), rotating)
    with pytest.raises(BadSignature):
        aftership.verify(signed(body, signature(body, "retired")), rotating)


def test_an_event_aftership_never_sends_is_unknown():
    body = edited("tracking_update__in_transit", lambda event: event.update(event="tracking.new"))
    with pytest.raises(UnknownTopic):
        receive("tracking_update__in_transit", body)


@pytest.mark.parametrize(
    "remove",
    [
        lambda event: event.pop("event_id"),
        lambda event: event.pop("msg"),
        lambda event: event["msg"].pop("tag"),
        lambda event: event["msg"].pop("tracking_number"),
    ],
    ids=["event_id", "msg", "msg.tag", "msg.tracking_number"],
)
def test_a_tracking_update_lacking_what_it_must_carry_is_refused_before_it_is_stored(remove):
    with pytest.raises(MissingFields):
        receive("tracking_update__in_transit", edited("tracking_update__in_transit", remove))


def test_a_body_that_is_not_an_object_is_refused():
    request = request_for("aftership", "tracking_update__in_transit", b"[]")
    with pytest.raises(MissingFields):
        aftership.envelope(delivery(request), [])
