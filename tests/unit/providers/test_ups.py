"""UPS Track Alert, pure: every fixture through `check_webhook` (verify -> envelope ->
normalize), every documented status code and activity type against tables written from UPS's
documentation, the dedupe key UPS does not give us, times, and the ways a push is refused."""

import json
from datetime import UTC, date, datetime

import pytest

from ordertrack.errors import BadSignature, MissingFields, UnknownTopic
from ordertrack.facts import ShipmentRef, TrackingFact
from ordertrack.providers.ups.tables import CODES, TYPES
from ordertrack.statuses import ShipmentStatus
from tests.support import check_webhook as webhook
from tests.support.check_webhook import check_webhook, edited, edited_fact, envelope_of, utc
from tests.support.sources.ups import SECRET
from tests.support.webhooks import fixture_body

# --- Documentation tables (UPS-API/api-documentation UPSTrackAlert.yaml,
# UPSTrackAlertEnhanced.yaml, Tracking.yaml; sources in tests/fixtures/ups/README.md). Written from
# what each value is documented to mean, not from ordertrack's tables.

#: Every 2-character `code` UPS's published documents use, with its documented meaning.
DOCUMENTED_CODES = {
    "MP": ShipmentStatus.LABEL_CREATED,  # M, "Shipment Ready for UPS": label created
    "OR": ShipmentStatus.IN_TRANSIT,  # I, "On the Way": UPS has your package
    "DP": ShipmentStatus.IN_TRANSIT,  # I, "On the Way": left a UPS building
    "YP": ShipmentStatus.IN_TRANSIT,  # I, "Preparing for Delivery": not yet out
    "OT": ShipmentStatus.OUT_FOR_DELIVERY,  # I (sic), "Out for Delivery"
    "FS": ShipmentStatus.DELIVERED,  # D, "Delivered"
    "SR": ShipmentStatus.IN_TRANSIT,  # Tracking.yaml: released by the customs agency
}

#: The six activity `type`s, and what each says on its own (with a code nobody documents).
DOCUMENTED_TYPES = {
    "M": ShipmentStatus.LABEL_CREATED,  # manifest: label created or billing received
    "MV": ShipmentStatus.CANCELLED,  # manifest void
    "X": ShipmentStatus.EXCEPTION,  # "something out of the normal happened"
    "U": None,  # update of the scheduled delivery: no news of where the parcel is
    "I": ShipmentStatus.UNKNOWN,  # on the way ... or out for delivery ("OT" is an I)
    "D": ShipmentStatus.UNKNOWN,  # loaded on vehicle, out for delivery or delivered
}

#: The 3-digit simplified `descriptionCode`s in UPS's examples: kept, never interpreted.
DOCUMENTED_DESCRIPTION_CODES = ("003", "005", "011", "021", "071")

# --- The story (tests/fixtures/ups/README.md)

TRACKING_NUMBER = "1Z5338FF0107231059"
PARCEL = ShipmentRef(tracking_number=TRACKING_NUMBER, carrier="UPS")


def ups_fact(
    status: ShipmentStatus | None,
    raw: str,
    detail: str,
    at: datetime,
    message: str,
    est: date | None,
) -> TrackingFact:
    return TrackingFact(PARCEL, status, at, raw, detail, message, "UPS", est)


def with_status(name: str, **changes) -> bytes:
    return edited("ups", name, lambda scan: scan["activityStatus"].update(changes))


def scan_with(name: str, **status) -> TrackingFact:
    """The one fact of the fixture, its activityStatus changed."""
    return edited_fact("ups", name, lambda scan: scan["activityStatus"].update(status))


def key_of(body: bytes) -> str:
    return envelope_of("ups", "x", body).dedupe_key


# --- One test per fixture


def test_manifest_is_the_label_created_in_atlanta_at_0915_local():
    scan = ups_fact(
        ShipmentStatus.LABEL_CREATED, "MP", "M/003", utc(2, 14, 15), "Shipment Ready for UPS", None
    )
    check_webhook("ups", "track_alert__manifest", [scan], topic="track_alert")


def test_manifest_void_cancels_the_label_by_its_type():
    scan = ups_fact(ShipmentStatus.CANCELLED, "VD", "MV", utc(2, 16), "Shipment Canceled", None)
    check_webhook("ups", "track_alert__manifest_void", [scan], topic="track_alert")


def test_origin_scan_is_in_transit_after_midnight_utc_with_delivery_due_on_the_4th():
    scan = ups_fact(
        ShipmentStatus.IN_TRANSIT, "OR", "I/005", utc(3, 0, 30), "On the Way", date(2026, 11, 4)
    )
    check_webhook("ups", "track_alert__origin_scan", [scan], topic="track_alert")


def test_departure_scan_is_still_in_transit():
    scan = ups_fact(
        ShipmentStatus.IN_TRANSIT, "DP", "I/005", utc(3, 2, 45), "On the Way", date(2026, 11, 4)
    )
    check_webhook("ups", "track_alert__departure_scan", [scan], topic="track_alert")


def test_weather_exception_is_an_exception_by_its_type():
    scan = ups_fact(
        ShipmentStatus.EXCEPTION,
        "WD",
        "X",
        utc(3, 11, 15),
        "A severe weather condition has delayed delivery.",
        date(2026, 11, 4),
    )
    check_webhook("ups", "track_alert__exception", [scan], topic="track_alert")


def test_scheduled_delivery_update_moves_the_estimate_and_not_the_status():
    scan = ups_fact(
        None,
        "SU",
        "U",
        utc(3, 11, 16),
        "The scheduled delivery date has been updated.",
        date(2026, 11, 5),
    )
    check_webhook("ups", "track_alert__scheduled_delivery_update", [scan], topic="track_alert")


def test_preparing_for_delivery_is_not_yet_out_for_delivery():
    scan = ups_fact(
        ShipmentStatus.IN_TRANSIT,
        "YP",
        "I/071",
        utc(5, 10, 30),
        "Preparing for Delivery",
        date(2026, 11, 5),
    )
    check_webhook("ups", "track_alert__preparing_for_delivery", [scan], topic="track_alert")


def test_out_for_delivery_arrives_as_type_i_and_the_code_makes_it_out_for_delivery():
    scan = ups_fact(
        ShipmentStatus.OUT_FOR_DELIVERY,
        "OT",
        "I/021",
        utc(5, 12, 15),
        "Out for Delivery",
        date(2026, 11, 5),
    )
    check_webhook("ups", "track_alert__out_for_delivery", [scan], topic="track_alert")


def test_delivery_attempt_without_a_published_code_is_an_exception_by_its_type():
    scan = ups_fact(
        ShipmentStatus.EXCEPTION,
        "DA",
        "X",
        utc(5, 19, 30),
        "The receiver was not available for delivery."
        " We'll make a second attempt the next business day.",
        date(2026, 11, 6),
    )
    check_webhook("ups", "track_alert__delivery_attempt", [scan], topic="track_alert")


def test_delivered_at_1310_local_is_1810_utc_without_an_estimate():
    scan = ups_fact(ShipmentStatus.DELIVERED, "FS", "D/011", utc(6, 18, 10), "Delivered", None)
    check_webhook("ups", "track_alert__delivered", [scan], topic="track_alert")


# --- Every documented code and type


def test_every_documented_code_and_type_is_in_the_providers_tables():
    assert set(DOCUMENTED_CODES) <= set(CODES)
    assert set(DOCUMENTED_TYPES) == set(TYPES)


@pytest.mark.parametrize("kind", DOCUMENTED_TYPES)
@pytest.mark.parametrize(("code", "expected"), DOCUMENTED_CODES.items())
def test_a_documented_code_maps_to_its_meaning_whatever_its_type(code, expected, kind):
    fact = scan_with("track_alert__origin_scan", code=code, type=kind)
    assert (fact.status, fact.raw_status) == (expected, code)


@pytest.mark.parametrize(("kind", "expected"), DOCUMENTED_TYPES.items())
def test_with_an_undocumented_code_only_an_unambiguous_type_decides(kind, expected):
    fact = scan_with("track_alert__origin_scan", code="ZZ", type=kind)
    assert (fact.status, fact.raw_status, fact.detail) == (expected, "ZZ", f"{kind}/005")


@pytest.mark.parametrize("kind", ["I", "D", "Q", ""])
def test_an_unknown_code_is_never_guessed_in_transit_and_keeps_its_raw_code(kind):
    fact = scan_with("track_alert__out_for_delivery", code="ZZ", type=kind)
    assert (fact.status, fact.raw_status) == (ShipmentStatus.UNKNOWN, "ZZ")


def test_an_unknown_type_without_a_code_is_unknown_with_the_type_as_raw_code():
    fact = scan_with("track_alert__origin_scan", code="", type="Q")
    assert (fact.status, fact.raw_status, fact.detail) == (ShipmentStatus.UNKNOWN, "Q", "Q/005")


@pytest.mark.parametrize("description_code", DOCUMENTED_DESCRIPTION_CODES)
def test_every_documented_description_code_is_kept_after_the_type(description_code):
    fact = scan_with("track_alert__origin_scan", descriptionCode=description_code)
    assert fact.detail == f"I/{description_code}"


def test_a_description_code_sent_as_a_json_number_keeps_its_leading_zero():
    assert scan_with("track_alert__out_for_delivery", descriptionCode=21).detail == "I/021"


def test_a_tracking_number_with_space_and_lower_case_names_the_same_parcel():
    fact = edited_fact("ups", "track_alert__origin_scan", trackingNumber=" 1z5338ff0107231059")
    assert fact.shipment == PARCEL


# --- Times and estimates


def test_without_gmt_fields_the_local_time_less_its_offset_dates_the_scan():
    fact = edited_fact(
        "ups",
        "track_alert__out_for_delivery",
        gmtActivityDate="",
        gmtActivityTime="",
        gmtOffset="-05.00",
    )
    assert fact.occurred_at == utc(5, 12, 15)


def test_a_track_api_style_offset_with_a_colon_is_read_too():
    fact = edited_fact(
        "ups",
        "track_alert__out_for_delivery",
        gmtActivityDate="",
        gmtActivityTime="",
        gmtOffset="+01:30",
    )
    assert fact.occurred_at == utc(5, 5, 45)


def test_a_scan_without_any_time_is_dated_when_it_was_received():
    fact = edited_fact(
        "ups",
        "track_alert__origin_scan",
        gmtActivityDate="",
        gmtActivityTime="",
        localActivityDate="",
    )
    assert fact.occurred_at == webhook.RECEIVED_AT["ups"]


def test_a_five_digit_time_is_read_as_the_track_api_writes_it():
    fact = edited_fact("ups", "track_alert__origin_scan", gmtActivityTime="74700")
    assert fact.occurred_at == datetime(2026, 11, 3, 7, 47, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("gmtActivityDate", "20261345"),
        ("gmtActivityDate", "2026-11-03"),
        ("gmtActivityTime", "246000"),
        ("gmtOffset", "-4"),
        ("scheduledDeliveryDate", "20261131"),
    ],
)
def test_a_malformed_date_time_or_offset_is_stored_then_names_its_field(name, value):
    body = edited("ups", "track_alert__origin_scan", **{name: value})
    # UPS never retries: the push is accepted and stored; the worker fails it, visibly.
    assert envelope_of("ups", "track_alert__origin_scan", body).handled
    with pytest.raises(MissingFields) as refused:
        webhook.normalized("ups", "track_alert", json.loads(body))
    assert name in refused.value.details


# --- The dedupe key UPS does not give


def test_the_same_scan_sent_twice_however_serialized_is_one_event():
    body = fixture_body("ups", "track_alert__out_for_delivery")
    compact = json.dumps(json.loads(body), separators=(",", ":"), sort_keys=True).encode()
    assert key_of(body) == key_of(compact)
    assert len(key_of(body)) == 64


def test_the_tracking_number_as_printed_does_not_change_the_key():
    body = fixture_body("ups", "track_alert__out_for_delivery")
    spaced = edited("ups", "track_alert__out_for_delivery", trackingNumber=" 1z5338ff0107231059")
    assert key_of(body) == key_of(spaced)


@pytest.mark.parametrize(
    "edit",
    [
        lambda s: s.update(gmtActivityTime="121501"),
        lambda s: s.update(localActivityDate="20261106"),
        lambda s: s["activityStatus"].update(code="YP"),
        lambda s: s["activityStatus"].update(type="D"),
        lambda s: s.update(trackingNumber="1Z5338FF0107231060"),
    ],
    ids=["another time", "another day", "another code", "another type", "another parcel"],
)
def test_another_time_status_or_parcel_is_another_event(edit):
    body = fixture_body("ups", "track_alert__out_for_delivery")
    assert key_of(body) != key_of(edited("ups", "track_alert__out_for_delivery", edit))


def test_every_fixture_is_a_distinct_event():
    names = [
        "track_alert__manifest",
        "track_alert__manifest_void",
        "track_alert__origin_scan",
        "track_alert__departure_scan",
        "track_alert__exception",
        "track_alert__scheduled_delivery_update",
        "track_alert__preparing_for_delivery",
        "track_alert__out_for_delivery",
        "track_alert__delivery_attempt",
        "track_alert__delivered",
    ]
    assert len({envelope_of("ups", name).dedupe_key for name in names}) == len(names)


# --- Credentials and refusals


@pytest.mark.parametrize(
    "credential",
    [
        pytest.param("guessed-credential", id="wrong"),
        pytest.param(None, id="missing"),
        pytest.param(SECRET[:-1], id="a prefix"),
        pytest.param(SECRET.upper(), id="another case"),
        pytest.param(SECRET + "x", id="longer"),
        pytest.param(f"Bearer {SECRET}", id="as a bearer token"),
    ],
)
def test_a_push_without_exactly_the_credential_is_refused(credential):
    with pytest.raises(BadSignature):
        envelope_of("ups", "track_alert__delivered", credential=credential)


def test_after_rotation_both_the_new_and_the_old_credential_verify():
    rotated = webhook.credentials("ups", secrets=("ups-credential-new-2027", SECRET))
    old = envelope_of("ups", "track_alert__delivered", configured=rotated)
    new = envelope_of(
        "ups", "track_alert__delivered", configured=rotated, credential="ups-credential-new-2027"
    )
    assert (old.topic, new.topic) == ("track_alert", "track_alert")


def test_with_no_credential_configured_nothing_verifies():
    with pytest.raises(BadSignature):
        envelope_of(
            "ups", "track_alert__delivered", configured=webhook.credentials("ups", secrets=())
        )


@pytest.mark.parametrize(
    "body",
    [b"{}", b'{"event": "track"}', b"[]", b'"1Z5338FF0107231059"'],
    ids=["empty object", "another object", "array", "string"],
)
def test_a_body_that_is_no_track_alert_scan_is_an_unknown_event(body):
    with pytest.raises(UnknownTopic):
        envelope_of("ups", "x", body)


@pytest.mark.parametrize("field", ["trackingNumber", "activityStatus"])
def test_a_scan_without_a_required_field_names_it_before_it_is_stored(field):
    body = edited("ups", "track_alert__origin_scan", lambda s: s.pop(field))
    with pytest.raises(MissingFields) as refused:
        envelope_of("ups", "track_alert__origin_scan", body)
    assert field in refused.value.details


def test_a_blank_tracking_number_is_refused():
    body = edited("ups", "track_alert__origin_scan", trackingNumber="  ")
    with pytest.raises(MissingFields) as refused:
        envelope_of("ups", "track_alert__origin_scan", body)
    assert "trackingNumber" in refused.value.details


def test_an_activity_status_with_neither_type_nor_code_names_it():
    body = with_status("track_alert__origin_scan", type="", code="")
    with pytest.raises(MissingFields) as refused:
        webhook.normalized("ups", "track_alert", json.loads(body))
    assert "code" in refused.value.details["activityStatus"]
