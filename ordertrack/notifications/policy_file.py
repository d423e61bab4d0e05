"""Who hears about what, on which channel: the configurable notification policy.

The policy is a TOML file (default_policy.toml here, unless NOTIFICATION_POLICY_FILE names
another), read and checked once at start-up: a typo stops the process with the file, the key
and what is wrong, rather than silently sending nothing. news_rules.py keeps what no file may
change: which status announces which kind, and when news has gone stale.
"""

import importlib.resources
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from email.utils import getaddresses
from typing import Any, Protocol

from ordertrack import delays
from ordertrack.notifications import news_rules
from ordertrack.notifications.quiet_hours import QuietHours, QuietHoursError
from ordertrack.notifications.sms import normalize_phone
from ordertrack.statuses import OrderStatus, ShipmentStatus

EMAIL, SMS, MERCHANT_WEBHOOK = "email", "sms", "merchant_webhook"
#: In the order `channels_for` answers.
CUSTOMER_CHANNELS = (EMAIL, SMS)
CHANNELS = (*CUSTOMER_CHANNELS, MERCHANT_WEBHOOK)

KINDS = frozenset(
    {
        *news_rules.KIND_STAGE,
        *news_rules.PARCEL_KINDS,
        *news_rules.ORDER_KINDS,
        news_rules.TRACKING_CHANGED,
        *news_rules.RETURN_KINDS,
        news_rules.DELAYED,
    }
)
#: A delay flag was raised: the merchant hears of each one.
ORDER_DELAYED = "order.delayed"
#: Merchant events: the order's status, and each parcel's (never its unknown codes).
SHIPMENT_EVENT_STATUSES = tuple(s for s in ShipmentStatus if s is not ShipmentStatus.UNKNOWN)
EVENTS = frozenset(
    {
        *(f"order.{status}" for status in OrderStatus),
        *(f"shipment.{status}" for status in SHIPMENT_EVENT_STATUSES),
        ORDER_DELAYED,
    }
)
DEFAULT_POLICY = "default_policy.toml"
#: How errors and logs name the default policy.
DEFAULT_SOURCE = f"ordertrack/notifications/{DEFAULT_POLICY}"
DEFAULT_SMS_QUIET_HOURS = "21:00-08:00"

#: The settings each channel's table may hold, and their types.
_SETTINGS: dict[str, dict[str, type]] = {
    EMAIL: {"enabled": bool, "kinds": list, "quiet_hours": str},
    SMS: {"enabled": bool, "kinds": list, "quiet_hours": str, "requires_consent": bool},
    MERCHANT_WEBHOOK: {"enabled": bool, "events": list},
}
_TYPE_NAMES = {bool: "true or false", list: "a list", str: "a string"}


class PolicyError(ValueError):
    """The notification policy is wrong; the message names the file, the key and what."""


class Contact(Protocol):
    """What the policy reads of a customer (ordertrack.facts.Customer)."""

    email: str | None
    phone: str | None
    sms_consent: bool | None
    country_code: str | None


@dataclass(frozen=True)
class Channel:
    name: str
    enabled: bool = False
    #: Kinds (customer channels) or event types (the merchant's webhook) it sends.
    sends: frozenset[str] = frozenset()
    requires_consent: bool = False
    quiet_hours: QuietHours | None = None


@dataclass(frozen=True)
class Rules:
    channels: Mapping[str, Channel]
    #: The file it came from, for start-up logs.
    source: str
    #: The `[delays]` table: thresholds, carriers' own, which flags the customer hears of.
    delay_policy: delays.DelayPolicy = field(default_factory=delays.DelayPolicy)

    def channels_for(self, kind: str, customer: Contact) -> list[str]:
        """The customer channels that tell this customer this kind of news."""
        base = news_rules.base_kind(kind)
        if base not in KINDS:
            raise ValueError(f"unknown notification kind {kind!r}")
        return [name for name in CUSTOMER_CHANNELS if self._tells(name, base, customer)]

    def _tells(self, name: str, base_kind: str, customer: Contact) -> bool:
        channel = self.channels[name]
        if not channel.enabled or base_kind not in channel.sends:
            return False
        if not recipients(name, customer):
            return False
        return not channel.requires_consent or customer.sms_consent is True

    def merchant_event_type(self, order_status: OrderStatus | str) -> str | None:
        """'order.<status>' when the merchant hears of this status, else None."""
        event = f"order.{OrderStatus(order_status).value}"
        channel = self.channels[MERCHANT_WEBHOOK]
        return event if channel.enabled and event in channel.sends else None

    def merchant_shipment_event(self, parcel: news_rules.Parcel) -> str | None:
        """'shipment.<status>' when the merchant hears of this parcel's status, else None: a
        parcel the platform cancelled or removed is 'shipment.cancelled'. A second and later
        failed attempt carries its number: each attempt is an event."""
        status = parcel.status if parcel.live else ShipmentStatus.CANCELLED
        channel = self.channels[MERCHANT_WEBHOOK]
        event = f"shipment.{status.value}"
        if status not in SHIPMENT_EVENT_STATUSES or not channel.enabled:
            return None
        if event not in channel.sends:
            return None
        return f"{event}:{parcel.attempt}" if parcel.attempt > 1 else event

    def merchant_delay_event(self) -> str | None:
        """'order.delayed' when the merchant hears of delay flags, else None."""
        channel = self.channels[MERCHANT_WEBHOOK]
        return ORDER_DELAYED if channel.enabled and ORDER_DELAYED in channel.sends else None

    def quiet_hours(self, channel: str) -> QuietHours | None:
        if channel not in self.channels:
            raise ValueError(f"unknown channel {channel!r}")
        return self.channels[channel].quiet_hours


def recipients(channel: str, customer: Contact) -> list[str]:
    """Where a customer channel sends, normalised so one address is one recipient (a phone
    number in E.164, national numbers read by the shipping country); none when the customer
    has none that can be used.

    An email field naming several addresses ("a@x.example, b@y.example") is each of them, a
    message apiece: one message to all would be one SMTP transaction, where the server may
    refuse some recipients and take the rest (smtplib then returns the refused rather than
    raising), so the message could be neither failed nor retried without being wrong for
    someone (matrix row SMTP-4)."""
    if channel == EMAIL:
        return _emails(customer.email)
    if channel == SMS:
        phone = normalize_phone(customer.phone, customer.country_code)
        return [phone] if phone else []
    raise ValueError(f"{channel!r} is not a customer channel")


def _emails(field: str | None) -> list[str]:
    """The addresses a To header of `field` would send to, as smtplib reads it. A single one
    keeps the field's own text (lower-cased), as every row before this stored it."""
    text = (field or "").strip().lower()
    if not text:
        return []
    if "," not in text:  # one address at most: no need to parse (the delay check asks 100,000s)
        return [text]
    addresses = [address.strip() for _, address in getaddresses([text]) if address.strip()]
    return list(dict.fromkeys(addresses)) if len(addresses) > 1 else [text]


def load_rules(
    path: str | None = None,
    *,
    sms_quiet_hours: str | None = None,
    unavailable: Collection[str] = (),
    sla_days: Mapping[str, int] | None = None,
) -> Rules:
    """Read and check the policy: `path` (NOTIFICATION_POLICY_FILE) or the default.
    `sms_quiet_hours` (SMS_QUIET_HOURS) overrides the file's; channels in `unavailable`
    (not configured: no Twilio settings, no merchant URL) are off whatever the file says.
    `sla_days` (SLA_*_DAYS) override the `[delays]` table's defaults."""
    path = path or None  # an empty NOTIFICATION_POLICY_FILE means the default
    source = path or DEFAULT_SOURCE
    channels = {name: Channel(name) for name in CHANNELS}
    document = _read(path)
    delay_policy = _delays(document.get("delays", {}), source, sla_days or {})
    for name, table in _channel_tables(document, source).items():
        channels[name] = _channel(name, table, source)
    if sms_quiet_hours is not None:
        quiet = _quiet(sms_quiet_hours, "SMS_QUIET_HOURS")
        channels[SMS] = replace(channels[SMS], quiet_hours=quiet)
    for name in unavailable:
        if name not in channels:
            raise PolicyError(f"unknown channel {name!r} (known: {', '.join(CHANNELS)})")
        channels[name] = replace(channels[name], enabled=False)
    return Rules(channels, source, delay_policy)


def _delays(table: Any, source: str, overrides: Mapping[str, int]) -> delays.DelayPolicy:
    """The `[delays]` table: default days, `tell_customer`, and `[delays.carriers.<code>]`."""
    where = f"{source}: delays"
    if not isinstance(table, dict):
        raise PolicyError(f"{where}: must be a table")
    allowed = {*delays.SLA_KEYS, "tell_customer", "carriers"}
    for key in table:
        if key not in allowed:
            raise PolicyError(f"{where}.{key}: unknown setting (known: {', '.join(allowed)})")
    defaults = _slas(table, delays.Slas(), where) if table else delays.Slas()
    defaults = replace(defaults, **overrides)
    carriers = table.get("carriers", {})
    if not isinstance(carriers, dict):
        raise PolicyError(f"{where}.carriers: must be a table of carriers")
    tell = table.get("tell_customer", sorted(delays.DelayPolicy.tell_customer))
    if not isinstance(tell, list):
        raise PolicyError(f"{where}.tell_customer: must be a list")
    return delays.DelayPolicy(
        defaults=defaults,
        carriers={
            code.lower(): _slas(values, defaults, f"{where}.carriers.{code}")
            for code, values in carriers.items()
        },
        tell_customer=_names(tell, frozenset(delays.KINDS), f"{where}.tell_customer"),
    )


def _slas(table: Any, base: delays.Slas, where: str) -> delays.Slas:
    if not isinstance(table, dict):
        raise PolicyError(f"{where}: must be a table")
    days = {}
    for key, value in table.items():
        if key in ("tell_customer", "carriers"):
            continue
        if key not in delays.SLA_KEYS:
            raise PolicyError(
                f"{where}.{key}: unknown setting (known: {', '.join(delays.SLA_KEYS)})"
            )
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise PolicyError(f"{where}.{key}: must be a whole number of days, 0 or more")
        days[key] = value
    return replace(base, **days)


def _read(path: str | None) -> dict[str, Any]:
    try:
        if path is None:
            resource = importlib.resources.files("ordertrack.notifications") / DEFAULT_POLICY
            return tomllib.loads(resource.read_text(encoding="utf-8"))
        with open(path, "rb") as file:
            return tomllib.load(file)
    except OSError as error:
        raise PolicyError(f"{path}: cannot read the policy: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(f"{path or DEFAULT_SOURCE}: not valid TOML: {error}") from None


def _channel_tables(document: dict[str, Any], source: str) -> dict[str, dict[str, Any]]:
    for key in document:
        if key not in ("channels", "delays"):
            raise PolicyError(f"{source}: {key}: unknown setting (expected [channels.*], [delays])")
    tables = document.get("channels", {})
    if not isinstance(tables, dict):
        raise PolicyError(f"{source}: channels: must be a table of channels")
    for name, table in tables.items():
        if name not in _SETTINGS:
            known = ", ".join(CHANNELS)
            raise PolicyError(f"{source}: channels.{name}: unknown channel (known: {known})")
        if not isinstance(table, dict):
            raise PolicyError(f"{source}: channels.{name}: must be a table")
    return tables


def _channel(name: str, table: dict[str, Any], source: str) -> Channel:
    where = f"{source}: channels.{name}"
    allowed = _SETTINGS[name]
    for key, value in table.items():
        if key not in allowed:
            raise PolicyError(f"{where}.{key}: unknown setting (known: {', '.join(allowed)})")
        if not isinstance(value, allowed[key]):
            raise PolicyError(f"{where}.{key}: must be {_TYPE_NAMES[allowed[key]]}")
    list_key, known = ("events", EVENTS) if name == MERCHANT_WEBHOOK else ("kinds", KINDS)
    if list_key not in table:
        raise PolicyError(f"{where}.{list_key}: missing (list what this channel sends)")
    default_quiet = DEFAULT_SMS_QUIET_HOURS if name == SMS else "off"
    return Channel(
        name,
        enabled=table.get("enabled", True),
        sends=_names(table[list_key], known, f"{where}.{list_key}"),
        requires_consent=table.get("requires_consent", name == SMS),
        quiet_hours=_quiet(table.get("quiet_hours", default_quiet), f"{where}.quiet_hours"),
    )


def _names(values: list[Any], known: frozenset[str], where: str) -> frozenset[str]:
    for index, value in enumerate(values):
        if value not in known:
            raise PolicyError(f"{where}[{index}]: unknown {value!r} (known: {sorted(known)})")
    return frozenset(values)


def _quiet(text: str, where: str) -> QuietHours | None:
    try:
        return QuietHours.parse(text)
    except QuietHoursError as error:
        raise PolicyError(f"{where}: bad time range: {error}") from None
