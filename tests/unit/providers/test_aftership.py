"""AfterShip provider, pure: every fixture through `check_webhook` (verify -> envelope ->
normalize), every documented tag and subtag against tables written from the documentation, and
the ways a delivery is refused. No database, no app."""

import base64
import hashlib
import hmac
from datetime import date, datetime

import pytest

from ordertrack.errors import BadSignature, MissingFields, UnknownTopic
from ordertrack.facts import ShipmentRef, TrackingFact
from ordertrack.providers.aftership.tables import SUBTAGS, TAGS
from ordertrack.providers.base import Envelope, WebhookRequest
from ordertrack.statuses import ShipmentStatus
from tests.support import check_webhook as webhook
from tests.support.check_webhook import check_webhook, edited, edited_fact, envelope_of, utc
from tests.support.sources.aftership import SECRET, signature
from tests.support.webhooks import fixture_body

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
DELIVERED_ID = "2d683ba1-ebb5-49d9-94b8-0bd9857cea7f"
#: What the receiver reads from the delivered update, however it was signed.
DELIVERED = Envelope(topic="tracking_update", dedupe_key=DELIVERED_ID, handled=True)


def usps(
    status: ShipmentStatus,
    tag: str,
    subtag: str,
    at: datetime,
    message: str,
    est: date | None = date(2026, 11, 5),
) -> TrackingFact:
    return TrackingFact(PARCEL, status, at, tag, subtag, message, "usps", est)


def fact_with(name: str, **msg) -> TrackingFact:
    """The one fact of the fixture, its `msg` changed."""
    return edited_fact("aftership", name, lambda event: event["msg"].update(msg))


def in_transit_with(**changes) -> TrackingFact:
    return fact_with("tracking_update__in_transit", **changes)


# --- One test per fixture


def test_pending_is_unknown_dated_when_aftership_added_it():
    scan = usps(
        ShipmentStatus.UNKNOWN, "Pending", "Pending_001", utc(2, 14, 0, 30), "Pending", None
    )
    check_webhook("aftership", "tracking_update__pending", [scan], topic="tracking_update")


def test_info_received_is_the_usps_label_at_1405():
    scan = usps(
        ShipmentStatus.LABEL_CREATED,
        "InfoReceived",
        "InfoReceived_001",
        utc(2, 14, 5),
        "Info Received",
        date(2026, 11, 4),
    )
    check_webhook("aftership", "tracking_update__info_received", [scan], topic="tracking_update")


def test_in_transit_is_the_acceptance_scan_at_0800():
    scan = usps(
        ShipmentStatus.IN_TRANSIT,
        "InTransit",
        "InTransit_002",
        utc(3, 8),
        "Acceptance scan",
        date(2026, 11, 4),
    )
    check_webhook("aftership", "tracking_update__in_transit", [scan], topic="tracking_update")


def test_out_for_delivery_is_on_the_van_at_0730():
    scan = usps(
        ShipmentStatus.OUT_FOR_DELIVERY,
        "OutForDelivery",
        "OutForDelivery_001",
        utc(4, 7, 30),
        "Out for Delivery",
        date(2026, 11, 4),
    )
    check_webhook("aftership", "tracking_update__out_for_delivery", [scan], topic="tracking_update")


def test_attempt_fail_is_a_failed_delivery_at_1220_with_the_estimate_moved_a_day():
    scan = usps(
        ShipmentStatus.DELIVERY_FAILED,
        "AttemptFail",
        "AttemptFail_002",
        utc(4, 12, 20),
        "Addressee not available",
    )
    check_webhook("aftership", "tracking_update__attempt_fail", [scan], topic="tracking_update")


def test_available_for_pickup_waits_at_the_post_office_from_0915_next_day():
    scan = usps(
        ShipmentStatus.AVAILABLE_FOR_PICKUP,
        "AvailableForPickup",
        "AvailableForPickup_001",
        utc(5, 9, 15),
        "Available for pickup",
    )
    check_webhook(
        "aftership", "tracking_update__available_for_pickup", [scan], topic="tracking_update"
    )


def test_delivered_is_picked_up_at_the_post_office_at_1640():
    scan = usps(
        ShipmentStatus.DELIVERED,
        "Delivered",
        "Delivered_002",
        utc(5, 16, 40),
        "Picked up by the customer",
    )
    check_webhook("aftership", "tracking_update__delivered", [scan], topic="tracking_update")


def test_exception_returning_to_sender_is_returned_with_the_exception_tag_kept():
    scan = usps(
        ShipmentStatus.RETURNED, "Exception", "Exception_010", utc(20, 13), "Returning to sender"
    )
    check_webhook(
        "aftership",
        "tracking_update__exception_returning_to_sender",
        [scan],
        topic="tracking_update",
    )


def test_expired_is_unknown_dated_when_aftership_gave_up():
    scan = usps(
        ShipmentStatus.UNKNOWN,
        "Expired",
        "Expired_001",
        utc(2, 14, 0, 40, month=12),
        "Expired",
        None,
    )
    check_webhook("aftership", "tracking_update__expired", [scan], topic="tracking_update")


@pytest.mark.parametrize(
    ("name", "event_id"),
    [
        ("edd_revise", "a8240755-e73b-410c-bac7-285083004b34"),
        ("tracking_pending_time", "4ff45543-5c84-463d-b1ed-0f5f7d766b40"),
    ],
)
def test_a_real_event_ordertrack_does_not_use_is_kept_as_ignored(name, event_id):
    envelope = check_webhook("aftership", name, [], topic=name, handled=False)
    assert envelope.dedupe_key == event_id


#: Each tracking update's event_id, which AfterShip sends again on a retry.
EVENT_IDS = {
    "tracking_update__pending": "a0de95dc-d8a4-4d58-a1e7-4fe7bf6aa7d3",
    "tracking_update__info_received": "0b78f9fe-15e2-4163-ae0e-46935a14f0c4",
    "tracking_update__in_transit": "40b4dbf2-2031-4d48-982c-0bcef2c9b6da",
    "tracking_update__out_for_delivery": "a71f1fbd-084d-4c44-919c-f00b16130521",
    "tracking_update__attempt_fail": "e3615675-1bba-465c-8649-81b80ad2a429",
    "tracking_update__available_for_pickup": "aeddc14b-b560-46dd-b5f3-e7b69fb7861d",
    "tracking_update__delivered": DELIVERED_ID,
    "tracking_update__exception_returning_to_sender": "78d8b1ac-a67f-440a-a50d-9a418bae60b6",
    "tracking_update__expired": "9030de9e-d3f7-48de-ab69-524564ffba7d",
}


@pytest.mark.parametrize("name", EVENT_IDS)
def test_each_update_is_deduplicated_by_its_event_id(name):
    assert envelope_of("aftership", name).dedupe_key == EVENT_IDS[name]


# --- Every documented code


def test_every_documented_tag_and_subtag_is_in_the_providers_tables():
    assert set(DOCUMENTED_TAGS) <= set(TAGS)
    assert set(DOCUMENTED_SUBTAGS) <= set(SUBTAGS)


@pytest.mark.parametrize(("tag", "expected"), DOCUMENTED_TAGS.items())
def test_tag_maps_to_its_documented_meaning_with_the_raw_code_kept(tag, expected):
    fact = in_transit_with(tag=tag)
    assert (fact.status, fact.raw_status) == (expected, tag)


@pytest.mark.parametrize(("subtag", "expected"), DOCUMENTED_SUBTAGS.items())
def test_subtag_under_its_own_tag_maps_to_its_documented_meaning_and_is_kept(subtag, expected):
    tag = subtag.split("_")[0]
    fact = in_transit_with(tag=tag, subtag=subtag)
    assert (fact.status, fact.raw_status, fact.detail) == (expected, tag, subtag)


def test_an_undocumented_tag_is_unknown_with_its_raw_code_never_in_transit():
    fact = in_transit_with(tag="Teleported", subtag="Teleported_001")
    assert (fact.status, fact.raw_status, fact.detail) == (
        ShipmentStatus.UNKNOWN,
        "Teleported",
        "Teleported_001",
    )


def test_an_undocumented_subtag_leaves_the_decision_to_its_tag_and_is_kept():
    fact = in_transit_with(tag="Exception", subtag="Exception_099")
    assert (fact.status, fact.detail) == (ShipmentStatus.EXCEPTION, "Exception_099")


def test_a_subtag_of_another_tag_decides_nothing():
    fact = in_transit_with(tag="InTransit", subtag="Exception_011")
    assert (fact.status, fact.detail) == (ShipmentStatus.IN_TRANSIT, "Exception_011")


def test_a_pending_tag_with_any_subtag_is_never_applied():
    assert in_transit_with(tag="Pending", subtag="Pending_006").status is ShipmentStatus.UNKNOWN


# --- Times, estimates, names


def test_the_newest_checkpoint_dates_the_event_whatever_its_position():
    def shuffle(event):
        event["msg"]["checkpoints"].reverse()

    fact = edited_fact("aftership", "tracking_update__delivered", shuffle)
    assert fact.occurred_at == utc(5, 16, 40)


def test_a_checkpoint_time_without_offset_is_not_guessed_as_utc():
    def local_only(event):
        event["msg"]["checkpoints"][-1]["checkpoint_time"] = "2026-11-05T23:59:00"

    # The pickup at 09:15Z is the newest checkpoint that can be placed.
    fact = edited_fact("aftership", "tracking_update__delivered", local_only)
    assert fact.occurred_at == utc(5, 9, 15)


def test_without_placeable_checkpoints_the_events_ts_dates_it():
    assert in_transit_with(checkpoints=[]).occurred_at == utc(3, 8, 6)


def test_without_checkpoints_or_ts_the_time_of_receipt_dates_it():
    def bare(event):
        event["msg"]["checkpoints"] = None
        del event["ts"]

    fact = edited_fact("aftership", "tracking_update__in_transit", bare)
    assert fact.occurred_at == webhook.RECEIVED_AT["aftership"]


def test_without_a_subtag_message_the_newest_checkpoint_message_is_kept():
    fact = fact_with("tracking_update__attempt_fail", subtag_message=None)
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
    ids=["latest", "latest range", "aftership's", "the carrier's", "expected_delivery"],
)
def test_the_estimate_is_the_first_one_given_in_order_of_trust(changes, expected):
    fact = fact_with("tracking_update__attempt_fail", **changes)
    assert fact.est_delivery == date(2026, 11, expected)


def test_an_unreadable_estimate_is_skipped_not_a_failed_event():
    fact = fact_with(
        "tracking_update__attempt_fail",
        latest_estimated_delivery={"datetime": "soon"},
        courier_estimated_delivery_date=None,
    )
    assert fact.est_delivery is None


def test_tracking_number_is_normalized_and_the_slug_names_the_carrier():
    fact = in_transit_with(tracking_number=" 9400 1118 9922 3344 5501 01 ")
    assert (fact.shipment, fact.carrier) == (PARCEL, "usps")


# --- Signatures and refusals

BODY = fixture_body("aftership", "tracking_update__delivered")


def signed_as(body: bytes, value: str | None) -> WebhookRequest:
    """`body` as AfterShip sends it, with `value` (or nothing) as its signature."""
    request = webhook.signed("aftership", "tracking_update__delivered", body)
    return webhook.as_received(webhook.with_headers(request, {"aftership-hmac-sha256": value}))


def _digest(key: bytes, body: bytes = BODY) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()


def test_the_signature_is_base64_hmac_sha256_of_the_raw_body_keyed_by_the_utf8_secret():
    value = base64.b64encode(_digest(SECRET.encode("utf-8"))).decode()
    assert webhook.accept("aftership", signed_as(BODY, value)) == DELIVERED


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(base64.b64encode(_digest(SECRET.encode("latin-1"))).decode(), id="latin-1"),
        pytest.param(_digest(SECRET.encode()).hex(), id="hex digest"),
        pytest.param(signature(BODY, "another secret"), id="another secret"),
    ],
)
def test_a_signature_aftership_would_not_send_is_refused(value):
    with pytest.raises(BadSignature):
        webhook.accept("aftership", signed_as(BODY, value))


def test_a_body_changed_after_signing_is_refused():
    body = fixture_body("aftership", "tracking_update__in_transit")
    tampered = body.replace(b'"tag": "InTransit"', b'"tag": "Delivered"')
    assert tampered != body
    with pytest.raises(BadSignature):
        webhook.accept("aftership", signed_as(tampered, signature(body)))


def test_a_delivery_without_signature_is_refused():
    with pytest.raises(BadSignature, match="missing"):
        webhook.accept("aftership", signed_as(BODY, None))


def test_during_rotation_the_old_and_the_new_secret_both_verify():
    rotating = webhook.credentials("aftership", secrets=("the new secret", SECRET))
    assert (
        webhook.accept("aftership", signed_as(BODY, signature(BODY, SECRET)), rotating) == DELIVERED
    )
    renewed = signed_as(BODY, signature(BODY, "the new secret"))
    assert webhook.accept("aftership", renewed, rotating) == DELIVERED
    with pytest.raises(BadSignature):
        webhook.accept("aftership", signed_as(BODY, signature(BODY, "retired")), rotating)


def test_an_event_aftership_never_sends_is_unknown():
    body = edited("aftership", "tracking_update__in_transit", event="tracking.new")
    with pytest.raises(UnknownTopic):
        envelope_of("aftership", "tracking_update__in_transit", body)


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
    body = edited("aftership", "tracking_update__in_transit", remove)
    with pytest.raises(MissingFields):
        envelope_of("aftership", "tracking_update__in_transit", body)


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(MissingFields):
        envelope_of("aftership", "tracking_update__in_transit", b"[]")
