"""Configuration from the environment, validated once at start-up (environs).

Every setting is listed in the README's table; `Settings.from_env()` is called by each
process's composition root and nowhere else. `variable_names()` lists what it reads, and
tests/unit/test_settings_everywhere.py holds the README and the deployment files to it.
"""

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from typing import cast

from environs import Env

from ordertrack import business_days as calendars
from ordertrack.providers.base import Credentials

DEFAULT_DATABASE_URL = "sqlite:///ordertrack.db"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    api_token: str | None = field(default=None, repr=False)
    #: Bearer token for /metrics; unset, /metrics is open (for a private network).
    metrics_token: str | None = field(default=None, repr=False)
    #: prometheus-client's multiprocess mode: where every process on this host writes its
    #: values, so /metrics adds up gunicorn's and the workers' processes. Unset: per process.
    prometheus_multiproc_dir: str | None = None
    public_base_url: str = "http://localhost:8000"
    #: WEBHOOK_SECRET_<SOURCE>, lower-cased source -> secrets (comma-separated for rotation).
    webhook_secrets: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    #: WEBHOOK_TOKEN_<SOURCE>: URL tokens (Shippo's ?token=), comma-separated for rotation.
    webhook_tokens: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    #: WEBHOOK_HEADER_<SOURCE>: the header carrying a static shared value (BigCommerce).
    webhook_headers: dict[str, str] = field(default_factory=dict)
    #: A signed timestamp older or newer than this is a replay (Shippo's t=).
    webhook_tolerance_seconds: int = 300
    bigcommerce_api_base: str = "https://api.bigcommerce.com"
    bigcommerce_store_hash: str | None = None
    bigcommerce_access_token: str | None = field(default=None, repr=False)
    bigcommerce_timeout_seconds: float = 10.0
    max_body_bytes: int = 1024 * 1024
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "ordertrack@localhost"
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_starttls: bool = False
    #: TLS from the first byte (port 465) instead of STARTTLS.
    smtp_ssl: bool = False
    #: Check the SMTP server's certificate and name; SMTP_CA_FILE: trust only these CAs.
    smtp_tls_verify: bool = True
    smtp_ca_file: str | None = None
    smtp_timeout: float = 10.0
    #: Attempts at processing one inbox row or sending one notification before giving up.
    max_attempts: int = 8
    retry_min_backoff_ms: int = 1000
    retry_max_backoff_ms: int = 300_000
    #: A pending row untouched this long is re-enqueued by the sweeper.
    sweep_after_seconds: int = 60
    sweep_interval_seconds: int = 15
    #: The sweeper stops re-driving while this many messages wait on a queue for a worker:
    #: enough to keep every worker busy, few enough to be taken within SWEEP_AFTER_SECONDS.
    sweep_queue_limit: int = 1000
    #: Worker threads inside the web process when REDIS_URL is unset (the in-process queue).
    inprocess_worker_threads: int = 2
    #: How long a webhook request waits for its inbox row to commit before answering 503.
    commit_timeout_seconds: float = 1.5
    #: Webhooks waiting in one web process for the inbox writer: the next gets 503 at once.
    inbox_queue_limit: int = 1000
    log_level: str = "INFO"
    shop_name: str = "Our shop"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = field(default=None, repr=False)
    twilio_from: str | None = None
    twilio_api_base: str = "https://api.twilio.com"
    merchant_webhook_url: str | None = None
    merchant_webhook_secret: str | None = field(default=None, repr=False)
    #: Where the hourly digest of alerts goes (an ops.* webhook tells each as it happens).
    merchant_email: str | None = None
    #: A configured source silent this long raises a `source_silent` alert.
    source_silence_hours: float = 24.0
    #: Outgoing webhooks to private, loopback or link-local addresses (SSRF) only when on.
    allow_private_webhook_urls: bool = False
    #: Overrides the policy file's quiet hours for texts (default there: 21:00-08:00).
    sms_quiet_hours: str | None = None
    notification_policy_file: str | None = None
    #: The customer's time zone when the shipping address does not say.
    shop_timezone: str = "UTC"
    #: The shop's working week (0 = Monday) and days off: countries' public holidays (the
    #: `holidays` package) and dates of its own. Delay flags count these business days.
    business_days: tuple[int, ...] = (0, 1, 2, 3, 4)
    holiday_countries: tuple[str, ...] = ()
    holiday_dates: tuple[date, ...] = ()
    #: SLA_*_DAYS: the delay flags' thresholds, overriding the policy file's defaults.
    sla_days: dict[str, int] = field(default_factory=dict)
    #: How often the sweeper sets and clears delay flags.
    delay_check_seconds: int = 300
    #: How long a notification waits before it goes, so news landing together is one message.
    notify_coalesce_seconds: float = 5.0
    #: Signs the links in messages (unsubscribe; tracking pages).
    signing_secret: str | None = field(default=None, repr=False)
    #: The tracking page: the shop's colour, how long a signed link works, returns.
    brand_color: str = "#1f4e79"
    #: Reverse proxies in front of the web process that set X-Forwarded-For: the page's
    #: rate limit counts the client they name, not the proxy.
    trusted_proxies: int = 0
    tracking_link_days: int = 60
    #: Live-update streams (/t/<token>/events) one web process serves at once; each holds a
    #: thread while open, and `ordertrack serve` never gives them more than half. Past it a
    #: page is answered 503 and polls. 0: no streams, every page polls.
    sse_max_streams: int = 16
    return_window_days: int = 30
    #: Days of this shop's deliveries that learned estimates are drawn from.
    estimate_window_days: int = 90
    return_policy_text: str = (
        "You can return items within the return window after delivery, unused and in their "
        "original packaging."
    )

    @classmethod
    def from_env(cls) -> "Settings":
        """Read and validate the process environment; a bad value stops start-up with its name."""
        return cls._read(Env(), lambda prefix: _per_source(os.environ, prefix))

    @classmethod
    def _read(cls, env: Env, per_source: Callable[[str], dict[str, tuple[str, ...]]]) -> "Settings":
        """Every variable is read here or in a helper given `env`: `variable_names()` finds
        them all by running this with a recorder."""
        holidays = calendars.parse_holidays(env.str("HOLIDAYS", ""))
        return cls(
            database_url=env.str("DATABASE_URL", DEFAULT_DATABASE_URL),
            redis_url=env.str("REDIS_URL", None) or None,
            api_token=env.str("API_TOKEN", None) or None,
            metrics_token=env.str("METRICS_TOKEN", None) or None,
            prometheus_multiproc_dir=env.str("PROMETHEUS_MULTIPROC_DIR", None) or None,
            public_base_url=env.str("PUBLIC_BASE_URL", "http://localhost:8000").rstrip("/"),
            webhook_secrets=per_source("WEBHOOK_SECRET_"),
            webhook_tokens=per_source("WEBHOOK_TOKEN_"),
            webhook_headers={
                source: values[0] for source, values in per_source("WEBHOOK_HEADER_").items()
            },
            webhook_tolerance_seconds=env.int("WEBHOOK_TOLERANCE_SECONDS", 300),
            bigcommerce_api_base=env.str(
                "BIGCOMMERCE_API_BASE", "https://api.bigcommerce.com"
            ).rstrip("/"),
            bigcommerce_store_hash=env.str("BIGCOMMERCE_STORE_HASH", None) or None,
            bigcommerce_access_token=env.str("BIGCOMMERCE_ACCESS_TOKEN", None) or None,
            bigcommerce_timeout_seconds=env.float("BIGCOMMERCE_TIMEOUT_SECONDS", 10.0),
            max_body_bytes=env.int("MAX_BODY_BYTES", 1024 * 1024),
            **_smtp(env),
            max_attempts=env.int("MAX_ATTEMPTS", 8),
            retry_min_backoff_ms=env.int("RETRY_MIN_BACKOFF_MS", 1000),
            retry_max_backoff_ms=env.int("RETRY_MAX_BACKOFF_MS", 300_000),
            sweep_after_seconds=env.int("SWEEP_AFTER_SECONDS", 60),
            sweep_interval_seconds=env.int("SWEEP_INTERVAL_SECONDS", 15),
            sweep_queue_limit=_positive(env, "SWEEP_QUEUE_LIMIT", 1000),
            inprocess_worker_threads=env.int("INPROCESS_WORKER_THREADS", 2),
            commit_timeout_seconds=env.float("COMMIT_TIMEOUT_SECONDS", 1.5),
            inbox_queue_limit=_positive(env, "INBOX_QUEUE_LIMIT", 1000),
            log_level=env.str("LOG_LEVEL", "INFO").upper(),
            shop_name=env.str("SHOP_NAME", "Our shop"),
            twilio_account_sid=env.str("TWILIO_ACCOUNT_SID", None) or None,
            twilio_auth_token=env.str("TWILIO_AUTH_TOKEN", None) or None,
            twilio_from=env.str("TWILIO_FROM", None) or None,
            twilio_api_base=env.str("TWILIO_API_BASE", "https://api.twilio.com").rstrip("/"),
            merchant_webhook_url=env.str("MERCHANT_WEBHOOK_URL", None) or None,
            merchant_webhook_secret=env.str("MERCHANT_WEBHOOK_SECRET", None) or None,
            merchant_email=env.str("MERCHANT_EMAIL", None) or None,
            source_silence_hours=env.float("SOURCE_SILENCE_HOURS", 24.0),
            allow_private_webhook_urls=env.bool("ALLOW_PRIVATE_WEBHOOK_URLS", False),
            sms_quiet_hours=env.str("SMS_QUIET_HOURS", None) or None,
            notification_policy_file=env.str("NOTIFICATION_POLICY_FILE", None) or None,
            shop_timezone=env.str("SHOP_TIMEZONE", "UTC"),
            business_days=calendars.parse_weekdays(
                env.str("BUSINESS_DAYS", calendars.DEFAULT_BUSINESS_DAYS)
            ),
            holiday_countries=holidays[0],
            holiday_dates=holidays[1],
            sla_days=_sla_days(env),
            delay_check_seconds=env.int("DELAY_CHECK_SECONDS", 300),
            notify_coalesce_seconds=env.float("NOTIFY_COALESCE_SECONDS", 5.0),
            signing_secret=env.str("SIGNING_SECRET", None) or None,
            brand_color=env.str("BRAND_COLOR", "#1f4e79"),
            trusted_proxies=env.int("TRUSTED_PROXIES", 0),
            tracking_link_days=env.int("TRACKING_LINK_DAYS", 60),
            sse_max_streams=_at_least_zero(env, "SSE_MAX_STREAMS", 16),
            return_window_days=env.int("RETURN_WINDOW_DAYS", 30),
            estimate_window_days=env.int("ESTIMATE_WINDOW_DAYS", 90),
            return_policy_text=env.str("RETURN_POLICY_TEXT", None) or Settings.return_policy_text,
        )

    def calendar(self) -> calendars.Calendar:
        """The shop's business days (a country's holiday tables load lazily, per year)."""
        return _calendar(
            self.shop_timezone, self.business_days, self.holiday_countries, self.holiday_dates
        )

    def credentials_for(self, source: str) -> Credentials:
        """Everything configured for one source; `.configured` is False when nothing is."""
        return Credentials(
            secrets=self.webhook_secrets.get(source, ()),
            tokens=self.webhook_tokens.get(source, ()),
            header=self.webhook_headers.get(source),
            tolerance=timedelta(seconds=self.webhook_tolerance_seconds),
        )


def variable_names() -> tuple[str, ...]:
    """Every environment variable `Settings.from_env` reads, in reading order; a family set
    once per source as its pattern (`WEBHOOK_SECRET_<SOURCE>`). Found by running the reading
    code itself, so the README and the deployment files are checked against what is read."""
    recorder = _NameRecorder()
    Settings._read(cast(Env, recorder), recorder.per_source)
    return tuple(dict.fromkeys(recorder.names))


class _NameRecorder:
    """Stands in for environs' `Env`: keeps each name read and answers with its default."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __getattr__(self, parser: str) -> Callable[..., object]:
        def read(name: str, default: object = None, *args: object, **kwargs: object) -> object:
            self.names.append(name)
            return default

        return read

    def per_source(self, prefix: str) -> dict[str, tuple[str, ...]]:
        self.names.append(f"{prefix}<SOURCE>")
        return {}


@cache
def _calendar(zone: str, weekdays, countries, dates) -> calendars.Calendar:
    return calendars.Calendar.build(zone, weekdays, countries, dates)


def _smtp(env: Env) -> dict:
    """The SMTP settings; a combination that would send the password in clear, or ask for
    two kinds of TLS at once, stops start-up."""
    implicit_tls, starttls = env.bool("SMTP_SSL", False), env.bool("SMTP_STARTTLS", False)
    if implicit_tls and starttls:
        raise ValueError("set SMTP_SSL (TLS from the start, port 465) or SMTP_STARTTLS, not both")
    username = env.str("SMTP_USERNAME", None) or None
    if username and not (implicit_tls or starttls):
        raise ValueError(
            "SMTP_USERNAME is set without SMTP_STARTTLS or SMTP_SSL: the password would cross"
            " the network in clear"
        )
    password = env.str("SMTP_PASSWORD", None) or None
    for name, value in (("SMTP_USERNAME", username), ("SMTP_PASSWORD", password)):
        # Python's smtplib encodes AUTH as ASCII: such a login would fail every email.
        if value and not value.isascii():
            raise ValueError(f"{name} has characters outside ASCII, which SMTP AUTH cannot send")
    return {
        "smtp_host": env.str("SMTP_HOST", None) or None,
        "smtp_port": env.int("SMTP_PORT", 465 if implicit_tls else 25),
        "smtp_from": env.str("SMTP_FROM", "ordertrack@localhost"),
        "smtp_username": username,
        "smtp_password": password,
        "smtp_starttls": starttls,
        "smtp_ssl": implicit_tls,
        "smtp_tls_verify": env.bool("SMTP_TLS_VERIFY", True),
        "smtp_ca_file": env.str("SMTP_CA_FILE", None) or None,
        "smtp_timeout": env.float("SMTP_TIMEOUT", 10.0),
    }


#: SLA_<NAME>_DAYS -> the policy's `[delays]` key it overrides.
SLA_VARIABLES = {
    "SLA_SHIP_DAYS": "ship_days",
    "SLA_FIRST_SCAN_DAYS": "first_scan_days",
    "SLA_NO_MOVEMENT_DAYS": "no_movement_days",
    "SLA_PICKUP_DAYS": "pickup_days",
    "SLA_EXCEPTION_DAYS": "exception_days",
}


def _at_least_zero(env: Env, name: str, default: int) -> int:
    value = env.int(name, default)
    if value < 0:
        raise ValueError(f"{name} must be 0 or more")
    return value


def _sla_days(env: Env) -> dict[str, int]:
    """Only the ones set: the rest come from the policy file (default_policy.toml)."""
    values = {}
    for name, key in SLA_VARIABLES.items():
        value = env.int(name, None)
        if value is not None:
            if value < 0:
                raise ValueError(f"{name} must be 0 or more")
            values[key] = value
    return values


def _positive(env: Env, name: str, default: int) -> int:
    value = env.int(name, default)
    if value < 1:
        raise ValueError(f"{name} must be 1 or more")
    return value


def _per_source(environ: Mapping[str, str], prefix: str) -> dict[str, tuple[str, ...]]:
    """WEBHOOK_SECRET_SHOPIFY="new,old" -> {"shopify": ("new", "old")}: any of them verifies."""
    values = {}
    for name, value in environ.items():
        parts = tuple(part.strip() for part in value.split(",") if part.strip())
        if name.startswith(prefix) and parts:
            values[name[len(prefix) :].lower()] = parts
    return values
