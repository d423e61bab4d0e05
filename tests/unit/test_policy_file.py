"""The configurable policy: who hears about what on which channel, read and checked once at
start-up so that a mistake in the file stops the process, naming the file and the key."""

from datetime import UTC, datetime, timedelta

import pytest

from ordertrack.facts import Customer
from ordertrack.lifecycle import ShipmentState
from ordertrack.notifications.news_rules import (
    KIND_FOR_STATUS,
    ORDER_KIND_FOR_STATUS,
    PARCEL_KIND_FOR_STATUS,
    tracking_changed_kind,
)
from ordertrack.notifications.policy_file import (
    DEFAULT_SOURCE,
    KINDS,
    PolicyError,
    load_rules,
    recipients,
)
from ordertrack.notifications.quiet_hours import QuietHours
from ordertrack.statuses import OrderStatus, ShipmentStatus

DEFAULT = load_rules(None)
TEXTED = {"out_for_delivery", "delivered", "delivery_failed", "available_for_pickup"}
TEXTED |= {"delivery_failed_again", "returned_to_sender"}
#: The order's own news that the merchant turns on in the policy file if they want it.
OFF_BY_DEFAULT = {"order_on_hold"}
BOTH = Customer(email="ana@example.com", phone="+1 212 555 0142", sms_consent=True)


def policy_file(tmp_path, text: str) -> str:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return str(path)


# --- the default policy ---------------------------------------------------------------


def test_every_kind_a_status_can_announce_is_a_known_kind():
    returns = {"return_requested", "return_approved", "return_rejected"}
    returns |= {"return_received", "return_refunded"}
    statuses = {*KIND_FOR_STATUS.values(), *PARCEL_KIND_FOR_STATUS.values()}
    statuses |= {*ORDER_KIND_FOR_STATUS.values(), "delivery_failed_again"}
    # "delayed" is announced by a delay flag, not a status.
    assert statuses | {"tracking_changed", "delayed"} | returns == KINDS


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_by_default_email_tells_every_kind_but_on_hold(kind):
    assert ("email" in DEFAULT.channels_for(kind, BOTH)) is (kind not in OFF_BY_DEFAULT)


@pytest.mark.parametrize("status", [s for s in ShipmentStatus if s is not ShipmentStatus.UNKNOWN])
def test_by_default_the_merchant_hears_of_every_parcel_status(status):
    parcel = ShipmentState(key="f:1", status=status)
    assert DEFAULT.merchant_shipment_event(parcel) == f"shipment.{status.value}"


def test_each_later_failed_attempt_is_its_own_merchant_event():
    first = datetime(2026, 11, 4, 10, tzinfo=UTC)
    attempts = (first, first + timedelta(minutes=3), first + timedelta(days=1))
    parcel = ShipmentState(
        key="f:1",
        status=ShipmentStatus.DELIVERY_FAILED,
        status_at=attempts[-1],
        failed_attempts=attempts,
    )
    assert DEFAULT.merchant_shipment_event(parcel) == "shipment.delivery_failed:2"
    assert DEFAULT.merchant_shipment_event(ShipmentState(key="f:1")) == "shipment.label_created"


def test_a_parcel_the_platform_cancelled_is_a_cancelled_shipment_to_the_merchant():
    parcel = ShipmentState(key="f:1", status=ShipmentStatus.IN_TRANSIT, cancelled=True)
    assert DEFAULT.merchant_shipment_event(parcel) == "shipment.cancelled"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_by_default_texts_carry_only_short_time_sensitive_news(kind):
    texted = "sms" in DEFAULT.channels_for(kind, BOTH)
    assert texted == (kind in TEXTED | {"tracking_changed"})


@pytest.mark.parametrize("status", list(OrderStatus))
def test_by_default_the_merchant_hears_of_every_order_status(status):
    assert DEFAULT.merchant_event_type(status) == f"order.{status.value}"


def test_the_merchant_event_type_is_order_dot_status():
    assert DEFAULT.merchant_event_type("shipped") == "order.shipped"
    assert DEFAULT.merchant_event_type(OrderStatus.EXCEPTION) == "order.exception"


def test_an_unknown_order_status_is_a_bug():
    with pytest.raises(ValueError):
        DEFAULT.merchant_event_type("teleported")


def test_by_default_texts_are_quiet_from_nine_at_night_to_eight_in_the_morning():
    assert str(DEFAULT.quiet_hours("sms")) == "21:00-08:00"
    assert DEFAULT.quiet_hours("email") is None
    assert DEFAULT.quiet_hours("merchant_webhook") is None
    assert DEFAULT.source == DEFAULT_SOURCE


def test_an_empty_policy_file_setting_means_the_default():
    assert load_rules("").channels == DEFAULT.channels


def test_sms_quiet_hours_setting_overrides_the_file():
    assert str(load_rules(None, sms_quiet_hours="22:30-07:00").quiet_hours("sms")) == (
        "22:30-07:00"
    )
    assert load_rules(None, sms_quiet_hours="off").quiet_hours("sms") is None


def test_a_bad_sms_quiet_hours_setting_names_the_setting():
    with pytest.raises(PolicyError, match=r"SMS_QUIET_HOURS: bad time range: '9pm-8am'"):
        load_rules(None, sms_quiet_hours="9pm-8am")


# --- whom a kind reaches ----------------------------------------------------------------


def test_a_customer_with_email_phone_and_consent_hears_on_both():
    assert DEFAULT.channels_for("delivered", BOTH) == ["email", "sms"]


@pytest.mark.parametrize("consent", [None, False])
def test_no_text_without_consent_as_the_platform_reports_it(consent):
    customer = Customer(email="ana@example.com", phone="+12125550142", sms_consent=consent)
    assert DEFAULT.channels_for("delivered", customer) == ["email"]


@pytest.mark.parametrize("phone", [None, "", "  ", "n/a", "555"])
def test_no_text_without_a_usable_phone_number_even_with_consent(phone):
    customer = Customer(email="ana@example.com", phone=phone, sms_consent=True)
    assert DEFAULT.channels_for("delivered", customer) == ["email"]


@pytest.mark.parametrize("email", [None, "", "   "])
def test_no_email_without_an_email_address(email):
    customer = Customer(email=email, phone="+12125550142", sms_consent=True)
    assert DEFAULT.channels_for("delivered", customer) == ["sms"]
    assert DEFAULT.channels_for("shipped", customer) == []


def test_a_tracking_change_is_matched_on_its_base_kind():
    assert DEFAULT.channels_for(tracking_changed_kind("1Z999"), BOTH) == ["email", "sms"]


def test_an_unknown_kind_is_a_bug():
    with pytest.raises(ValueError, match="shiped"):
        DEFAULT.channels_for("shiped", BOTH)


def test_recipients_are_normalised_so_one_address_is_one_recipient():
    customer = Customer(email=" Ana@Example.COM ", phone="(212) 555-0142", country_code="US")
    assert recipients("email", customer) == ["ana@example.com"]
    assert recipients("sms", customer) == ["+12125550142"]


def test_an_email_field_naming_several_addresses_is_each_of_them_once():
    """One message per address: SMTP can refuse one RCPT of a transaction and take the rest."""
    customer = Customer(email="Ana@Example.com, Bob <bob@example.com>,ana@example.com")
    assert recipients("email", customer) == ["ana@example.com", "bob@example.com"]


def test_a_customer_without_a_usable_address_has_no_recipient():
    customer = Customer(email="  ", phone="not a number", country_code="US")
    assert recipients("email", customer) == []
    assert recipients("sms", customer) == []


def test_a_national_number_is_read_by_the_shipping_country():
    assert recipients("sms", Customer(phone="0151 23456789", country_code="DE")) == [
        "+4915123456789"
    ]


def test_channels_not_configured_are_off_whatever_the_file_says():
    rules = load_rules(None, unavailable=["sms", "merchant_webhook"])
    assert rules.channels_for("delivered", BOTH) == ["email"]
    assert rules.merchant_event_type("delivered") is None


def test_an_unknown_unavailable_channel_is_refused():
    with pytest.raises(PolicyError, match="'fax'"):
        load_rules(None, unavailable=["fax"])


# --- a policy file of one's own ---------------------------------------------------------


def test_a_file_of_ones_own_decides_and_a_channel_left_out_is_off(tmp_path):
    path = policy_file(
        tmp_path,
        """
[channels.sms]
requires_consent = false
quiet_hours = "13:00-14:00"
kinds = ["shipped"]

[channels.merchant_webhook]
events = ["order.delivered"]
""",
    )
    rules = load_rules(path)
    no_consent = Customer(email="ana@example.com", phone="+12125550142")
    assert rules.source == path
    assert rules.channels_for("shipped", no_consent) == ["sms"]
    assert rules.channels_for("delivered", no_consent) == []
    assert rules.quiet_hours("sms") == QuietHours.parse("13:00-14:00")
    assert rules.merchant_event_type("delivered") == "order.delivered"
    assert rules.merchant_event_type("shipped") is None


def test_a_disabled_channel_sends_nothing(tmp_path):
    path = policy_file(
        tmp_path,
        """
[channels.email]
enabled = false
kinds = ["delivered"]

[channels.merchant_webhook]
enabled = false
events = ["order.delivered"]
""",
    )
    rules = load_rules(path)
    assert rules.channels_for("delivered", BOTH) == []
    assert rules.merchant_event_type("delivered") is None


def test_texts_have_quiet_hours_unless_the_file_turns_them_off(tmp_path):
    kept = load_rules(policy_file(tmp_path, '[channels.sms]\nkinds = ["delivered"]'))
    assert str(kept.quiet_hours("sms")) == "21:00-08:00"
    off = load_rules(policy_file(tmp_path, '[channels.sms]\nkinds = []\nquiet_hours = "off"'))
    assert off.quiet_hours("sms") is None


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('[channels.fax]\nkinds = ["delivered"]', "channels.fax", "unknown channel"),
        ('[channels.email]\nkinds = ["shiped"]', "channels.email.kinds[0]", "unknown 'shiped'"),
        (
            '[channels.sms]\nkinds = ["delivered", "paid"]',
            "channels.sms.kinds[1]",
            "unknown 'paid'",
        ),
        (
            '[channels.merchant_webhook]\nevents = ["order.teleported"]',
            "channels.merchant_webhook.events[0]",
            "unknown 'order.teleported'",
        ),
        (
            '[channels.merchant_webhook]\nevents = ["shipped"]',
            "channels.merchant_webhook.events[0]",
            "unknown 'shipped'",
        ),
        (
            '[channels.sms]\nkinds = []\nquiet_hours = "25:00-08:00"',
            "channels.sms.quiet_hours",
            "bad time range",
        ),
        (
            '[channels.sms]\nkinds = []\nquiet_hours = "21:00"',
            "channels.sms.quiet_hours",
            "bad time range",
        ),
        ('[channels.email]\nkinds = []\ncolour = "red"', "channels.email.colour", "unknown"),
        (
            "[channels.email]\nkinds = []\nrequires_consent = true",
            "channels.email.requires_consent",
            "unknown setting",
        ),
        (
            '[channels.merchant_webhook]\nkinds = ["delivered"]',
            "channels.merchant_webhook.kinds",
            "known: enabled, events",
        ),
        ('[channels.email]\nenabled = "yes"\nkinds = []', "channels.email.enabled", "true or"),
        ('[channels.email]\nkinds = "delivered"', "channels.email.kinds", "must be a list"),
        ("[channels.sms]\nquiet_hours = 2100\nkinds = []", "channels.sms.quiet_hours", "string"),
        ("[channels.email]\nenabled = true", "channels.email.kinds", "missing"),
        ("[channels]\nemail = true", "channels.email", "must be a table"),
        ("channels = 3", "channels", "must be a table"),
        ('[email]\nkinds = ["delivered"]', "email", "unknown setting"),
        ("[channels.email\nkinds = []", "", "not valid TOML"),
    ],
)
def test_a_mistake_in_the_file_names_the_file_the_key_and_what_is_wrong(
    tmp_path, text, key, problem
):
    path = policy_file(tmp_path, text)
    with pytest.raises(PolicyError) as raised:
        load_rules(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: {key}")
    assert problem in message


def test_a_missing_file_is_named(tmp_path):
    missing = str(tmp_path / "nowhere.toml")
    with pytest.raises(PolicyError, match=f"{missing}: cannot read the policy"):
        load_rules(missing)
