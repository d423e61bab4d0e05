"""The customer's time zone, from the shipping address: quiet hours are measured in it."""

import zoneinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

from ordertrack.notifications.timezones import (
    MAIN_ZONE,
    NO_MAIN_ZONE,
    SUBDIVISIONS,
    customer_timezone,
    single_zone_countries,
    zone1970_tab,
)

SHOP = "Europe/Dublin"


def zone_of(country, province=None, fallback=SHOP) -> str:
    return customer_timezone(country, province, fallback).key


@pytest.mark.parametrize(
    ("state", "zone"),
    [
        ("NY", "America/New_York"),
        ("TX", "America/Chicago"),  # El Paso is Mountain, most Texans are Central
        ("IN", "America/Indiana/Indianapolis"),
        ("FL", "America/New_York"),  # the western panhandle is Central
        ("AZ", "America/Phoenix"),  # no daylight saving time
        ("CA", "America/Los_Angeles"),
        ("CO", "America/Denver"),
        ("HI", "Pacific/Honolulu"),
        ("AK", "America/Anchorage"),
        ("PR", "America/Puerto_Rico"),
    ],
)
def test_a_us_address_gets_its_states_zone(state, zone):
    assert zone_of("US", state) == zone


@pytest.mark.parametrize(
    ("province", "zone"),
    [
        ("ON", "America/Toronto"),
        ("QC", "America/Toronto"),
        ("BC", "America/Vancouver"),
        ("NL", "America/St_Johns"),  # half an hour off the others
        ("SK", "America/Regina"),  # no daylight saving time
        ("NS", "America/Halifax"),
    ],
)
def test_a_canadian_address_gets_its_provinces_zone(province, zone):
    assert zone_of("CA", province) == zone


@pytest.mark.parametrize(
    ("state", "zone"),
    [
        ("NSW", "Australia/Sydney"),
        ("QLD", "Australia/Brisbane"),  # no daylight saving time, unlike Sydney
        ("WA", "Australia/Perth"),
        ("SA", "Australia/Adelaide"),
    ],
)
def test_an_australian_address_gets_its_states_zone(state, zone):
    assert zone_of("AU", state) == zone


@pytest.mark.parametrize(
    ("country", "province"),
    [("us", "tx"), (" US ", " TX "), ("US", "US-TX"), ("US", "Texas"), ("US", "texas")],
)
def test_codes_are_read_whatever_their_case_prefix_or_spelling(country, province):
    assert zone_of(country, province) == "America/Chicago"


def test_a_province_named_with_an_accent_is_found():
    assert zone_of("CA", "Québec") == "America/Toronto"


@pytest.mark.parametrize(
    ("country", "zone"),
    [
        ("BR", "America/Sao_Paulo"),
        ("MX", "America/Mexico_City"),
        ("RU", "Europe/Moscow"),
        ("ID", "Asia/Jakarta"),
        ("US", "America/New_York"),
        ("CA", "America/Toronto"),
        ("AU", "Australia/Sydney"),
    ],
)
def test_a_country_across_zones_without_a_known_province_gets_its_main_zone(country, zone):
    assert zone_of(country) == zone
    assert zone_of(country, "nowhere") == zone


@pytest.mark.parametrize(
    ("country", "zone"),
    [
        ("FR", "Europe/Paris"),
        ("JP", "Asia/Tokyo"),
        ("GB", "Europe/London"),
        ("gb", "Europe/London"),
    ],
)
def test_a_single_zone_country_gets_its_zone_from_the_tz_database(country, zone):
    assert zone_of(country, "anything") == zone


@pytest.mark.parametrize("country", [None, "", "XX", "AQ"])
def test_an_unknown_or_unplaceable_country_gets_the_shops_zone(country):
    assert zone_of(country, "TX") == SHOP


def test_the_fallback_is_utc_when_the_shop_says_so():
    assert customer_timezone(None, None, "UTC") == ZoneInfo("UTC")


def test_a_bad_fallback_name_fails_loudly():
    with pytest.raises(ZoneInfoNotFoundError):
        customer_timezone(None, None, "Mars/Olympus_Mons")


def test_every_zone_in_the_tables_is_canonical_so_slim_images_have_it():
    """Legacy links (US/Central, Asia/Kuala_Lumpur...) may be missing from slim images'
    system tz data; zone1970.tab names only real zones."""
    canonical = {line.split("\t")[2] for line in zone1970_tab().splitlines() if line[:1] != "#"}
    used = {zone for table in SUBDIVISIONS.values() for _name, zone in table.values()}
    used |= set(MAIN_ZONE.values())
    assert used - canonical == set()
    for zone in used:
        ZoneInfo(zone)


def test_every_country_the_tz_database_splits_has_a_main_zone_or_gets_the_shops():
    countries = set()
    for line in zone1970_tab().splitlines():
        if line[:1] != "#" and line.strip():
            countries |= set(line.split("\t")[0].split(","))
    split = countries - set(single_zone_countries())
    assert split, "the tz database's country table was not found"
    assert split - set(MAIN_ZONE) - NO_MAIN_ZONE == set()


@pytest.fixture
def no_system_tz_data():
    """A slim image without /usr/share/zoneinfo: only the `tzdata` package is left."""
    import tzdata  # noqa: F401  (a dependency in pyproject.toml: its absence is a failure)

    zoneinfo.reset_tzpath(to=[])
    ZoneInfo.clear_cache()
    single_zone_countries.cache_clear()
    yield
    zoneinfo.reset_tzpath()
    ZoneInfo.clear_cache()
    single_zone_countries.cache_clear()


@pytest.mark.usefixtures("no_system_tz_data")
def test_without_system_tz_data_the_tzdata_package_answers():
    assert zone_of("FR") == "Europe/Paris"
    assert zone_of("US", "TX") == "America/Chicago"
