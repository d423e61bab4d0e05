"""The customer's time zone, from the shipping address: what quiet hours are measured in.

Countries with one zone come from the tz database's own country table (zone1970.tab, beside
the zone files, whether the system's or the `tzdata` package's). Countries that span zones are
tables here: by state or province where the address gives one, else the zone most of the
country's people live in. Every name used is a canonical zone (not a legacy link, which slim
images may lack). Anything unknown gets the shop's zone.
"""

import functools
import importlib.resources
import unicodedata
import zoneinfo
from pathlib import Path
from zoneinfo import ZoneInfo

EASTERN, CENTRAL, MOUNTAIN = "America/New_York", "America/Chicago", "America/Denver"
PACIFIC, ARIZONA = "America/Los_Angeles", "America/Phoenix"

#: A split state goes to the zone most of its people live in; the comment names the rest.
US_STATES: dict[str, tuple[str, str]] = {
    "AL": ("Alabama", CENTRAL),
    "AK": ("Alaska", "America/Anchorage"),  # the western Aleutians: America/Adak
    "AZ": ("Arizona", ARIZONA),  # no DST; the Navajo Nation keeps it: America/Denver
    "AR": ("Arkansas", CENTRAL),
    "CA": ("California", PACIFIC),
    "CO": ("Colorado", MOUNTAIN),
    "CT": ("Connecticut", EASTERN),
    "DE": ("Delaware", EASTERN),
    "DC": ("District of Columbia", EASTERN),
    "FL": ("Florida", EASTERN),  # the western panhandle (Pensacola) is Central
    "GA": ("Georgia", EASTERN),
    "HI": ("Hawaii", "Pacific/Honolulu"),
    "ID": ("Idaho", "America/Boise"),  # the northern panhandle is Pacific
    "IL": ("Illinois", CENTRAL),
    "IN": ("Indiana", "America/Indiana/Indianapolis"),  # NW and SW corners are Central
    "IA": ("Iowa", CENTRAL),
    "KS": ("Kansas", CENTRAL),  # four western counties are Mountain
    "KY": ("Kentucky", EASTERN),  # Louisville and Lexington; the western half is Central
    "LA": ("Louisiana", CENTRAL),
    "ME": ("Maine", EASTERN),
    "MD": ("Maryland", EASTERN),
    "MA": ("Massachusetts", EASTERN),
    "MI": ("Michigan", "America/Detroit"),  # four Upper Peninsula counties are Central
    "MN": ("Minnesota", CENTRAL),
    "MS": ("Mississippi", CENTRAL),
    "MO": ("Missouri", CENTRAL),
    "MT": ("Montana", MOUNTAIN),
    "NE": ("Nebraska", CENTRAL),  # the western panhandle is Mountain
    "NV": ("Nevada", PACIFIC),  # West Wendover is Mountain
    "NH": ("New Hampshire", EASTERN),
    "NJ": ("New Jersey", EASTERN),
    "NM": ("New Mexico", MOUNTAIN),
    "NY": ("New York", EASTERN),
    "NC": ("North Carolina", EASTERN),
    "ND": ("North Dakota", CENTRAL),  # the south-west is Mountain
    "OH": ("Ohio", EASTERN),
    "OK": ("Oklahoma", CENTRAL),
    "OR": ("Oregon", PACIFIC),  # Malheur County is Mountain
    "PA": ("Pennsylvania", EASTERN),
    "RI": ("Rhode Island", EASTERN),
    "SC": ("South Carolina", EASTERN),
    "SD": ("South Dakota", CENTRAL),  # west of the Missouri is Mountain
    "TN": ("Tennessee", CENTRAL),  # Nashville and Memphis; East Tennessee is Eastern
    "TX": ("Texas", CENTRAL),  # El Paso and Hudspeth County are Mountain
    "UT": ("Utah", MOUNTAIN),
    "VT": ("Vermont", EASTERN),
    "VA": ("Virginia", EASTERN),
    "WA": ("Washington", PACIFIC),
    "WV": ("West Virginia", EASTERN),
    "WI": ("Wisconsin", CENTRAL),
    "WY": ("Wyoming", MOUNTAIN),
    # Territories, which platforms file under US as often as under their own country code.
    "PR": ("Puerto Rico", "America/Puerto_Rico"),
    "VI": ("U.S. Virgin Islands", "America/Puerto_Rico"),  # same clock as St Thomas
    "GU": ("Guam", "Pacific/Guam"),
    "MP": ("Northern Mariana Islands", "Pacific/Guam"),
    "AS": ("American Samoa", "Pacific/Pago_Pago"),
}

CA_PROVINCES: dict[str, tuple[str, str]] = {
    "AB": ("Alberta", "America/Edmonton"),
    "BC": ("British Columbia", "America/Vancouver"),  # the north-east keeps MST all year
    "MB": ("Manitoba", "America/Winnipeg"),
    "NB": ("New Brunswick", "America/Moncton"),
    "NL": ("Newfoundland and Labrador", "America/St_Johns"),  # most of Labrador is Atlantic
    "NS": ("Nova Scotia", "America/Halifax"),
    "NT": ("Northwest Territories", "America/Edmonton"),  # Yellowknife keeps Edmonton's clock
    "NU": ("Nunavut", "America/Iqaluit"),  # Kivalliq is Central, Kitikmeot Mountain
    "ON": ("Ontario", "America/Toronto"),  # the far north-west is Central
    "PE": ("Prince Edward Island", "America/Halifax"),
    "QC": ("Quebec", "America/Toronto"),  # the Lower North Shore is Atlantic
    "SK": ("Saskatchewan", "America/Regina"),  # no DST; Lloydminster follows Alberta
    "YT": ("Yukon", "America/Whitehorse"),
}

AU_STATES: dict[str, tuple[str, str]] = {
    "ACT": ("Australian Capital Territory", "Australia/Sydney"),
    "NSW": ("New South Wales", "Australia/Sydney"),  # Broken Hill keeps Adelaide's clock
    "NT": ("Northern Territory", "Australia/Darwin"),
    "QLD": ("Queensland", "Australia/Brisbane"),
    "SA": ("South Australia", "Australia/Adelaide"),
    "TAS": ("Tasmania", "Australia/Hobart"),
    "VIC": ("Victoria", "Australia/Melbourne"),
    "WA": ("Western Australia", "Australia/Perth"),
}

SUBDIVISIONS = {"US": US_STATES, "CA": CA_PROVINCES, "AU": AU_STATES}

#: Countries that span zones, without a table above: where most people live. Merged zones
#: carry another city's name (Malaysia's clock is Asia/Singapore's since 1970).
MAIN_ZONE: dict[str, str] = {
    "US": EASTERN,
    "CA": "America/Toronto",
    "AU": "Australia/Sydney",
    "AR": "America/Argentina/Buenos_Aires",
    "BR": "America/Sao_Paulo",
    "CD": "Africa/Maputo",  # the east (Lubumbashi, the Kivus) outnumbers Kinshasa's west
    "CL": "America/Santiago",
    "CN": "Asia/Shanghai",
    "CY": "Asia/Nicosia",
    "DE": "Europe/Berlin",  # Büsingen keeps Zurich's clock (the same one)
    "EC": "America/Guayaquil",
    "ES": "Europe/Madrid",  # the Canaries are an hour behind
    "FM": "Pacific/Port_Moresby",  # Chuuk and Yap (UTC+10) outnumber Pohnpei and Kosrae
    "GL": "America/Nuuk",
    "ID": "Asia/Jakarta",
    "KI": "Pacific/Tarawa",
    "KZ": "Asia/Almaty",
    "MH": "Pacific/Tarawa",  # Majuro
    "MN": "Asia/Ulaanbaatar",
    "MX": "America/Mexico_City",
    "MY": "Asia/Singapore",  # Kuala Lumpur and the peninsula
    "NZ": "Pacific/Auckland",
    "PF": "Pacific/Tahiti",
    "PG": "Pacific/Port_Moresby",
    "PS": "Asia/Hebron",  # the West Bank outnumbers Gaza
    "PT": "Europe/Lisbon",
    "RU": "Europe/Moscow",
    "UA": "Europe/Kyiv",
    "UZ": "Asia/Tashkent",
    "VN": "Asia/Ho_Chi_Minh",
}

#: Spread over zones with hardly anyone to ship to: the shop's zone is as good a guess.
NO_MAIN_ZONE = frozenset({"AQ", "TF", "UM"})


def customer_timezone(
    country_code: str | None, province_code: str | None, fallback: str
) -> ZoneInfo:
    """The zone of a shipping address (ISO 3166 country code; state or province code, with or
    without the country prefix, or its English name); `fallback` when it cannot tell."""
    country = (country_code or "").strip().upper()
    name = _subdivision_zone(country, province_code) or MAIN_ZONE.get(country)
    if name is None and country not in NO_MAIN_ZONE:
        name = single_zone_countries().get(country)
    return ZoneInfo(name or fallback)


def _subdivision_zone(country: str, province: str | None) -> str | None:
    table = SUBDIVISIONS.get(country)
    code = _folded(province).removeprefix(f"{country}-")
    if table is None or not code:
        return None
    if code in table:
        return table[code][1]
    return next((zone for name, zone in table.values() if _folded(name) == code), None)


def _folded(text: str | None) -> str:
    """Upper case without accents: 'Québec' is 'QUEBEC'."""
    decomposed = unicodedata.normalize("NFKD", (text or "").strip().upper())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


@functools.cache
def single_zone_countries() -> dict[str, str]:
    """Country code -> its zone, for every country the tz database gives exactly one."""
    zones: dict[str, set[str]] = {}
    for line in zone1970_tab().splitlines():
        if line and not line.startswith("#"):
            countries, _coordinates, zone = line.split("\t")[:3]
            for country in countries.split(","):
                zones.setdefault(country, set()).add(zone)
    return {country: names.pop() for country, names in zones.items() if len(names) == 1}


def zone1970_tab() -> str:
    """The tz database's country table, from where `zoneinfo` finds zones: the system's
    directories first, then the `tzdata` package; empty when there is neither."""
    for directory in zoneinfo.TZPATH:
        path = Path(directory) / "zone1970.tab"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    try:
        return (importlib.resources.files("tzdata.zoneinfo") / "zone1970.tab").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return ""
