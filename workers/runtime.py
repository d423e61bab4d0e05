"""The worker side's composition root: settings, database sessions, channels and the
broker with our actors declared on it. Built once per process, never at import time."""

import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import dramatiq
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ordertrack.notifications import lease, outbox, ssrf
from ordertrack.notifications.channels import Channels
from ordertrack.notifications.email import SmtpConfig
from ordertrack.notifications.links import signing_keys
from ordertrack.notifications.merchant_webhook import MerchantWebhookConfig, parse_secret
from ordertrack.notifications.sms import TwilioConfig
from ordertrack.notifications.smtp_connection import tls_context
from ordertrack.settings import Settings
from ordertrack.store.db import make_engine, make_sessionmaker
from ordertrack.store.estimates import RecentDeliveries
from workers.actors import Actors, declare_actors
from workers.broker import setup_broker


@dataclass
class Runtime:
    settings: Settings
    #: Durable commits: the inbox writer and the API.
    engine: Engine
    #: The workers' transactions (asynchronous commit on PostgreSQL).
    sessions: sessionmaker[Session]
    #: Durable transactions, for the web side's own writes.
    durable_sessions: sessionmaker[Session]
    broker: dramatiq.Broker
    actors: Actors
    channels: Channels


def build_runtime(settings: Settings, *, broker: dramatiq.Broker | None = None) -> Runtime:
    engine = make_engine(settings.database_url)
    # Workers' own commits need not wait for the disk: their input stays in the durable
    # inbox until they finish, and the sweeper re-drives whatever a crash loses.
    sessions = make_sessionmaker(make_engine(settings.database_url, durable=False))
    broker = broker or setup_broker(settings)
    twilio, merchant = twilio_config(settings), merchant_config(settings)
    times = send_times(settings, twilio, merchant)
    channels = Channels(
        smtp=smtp_config(settings),
        shop_name=settings.shop_name,
        message_domain=urlsplit(settings.public_base_url).hostname or "localhost",
        max_attempts=settings.max_attempts,
        twilio=twilio,
        merchant=merchant,
        link_keys=signing_keys(settings),
        public_base_url=settings.public_base_url,
        sms_quiet_hours=outbox.plan_for(settings).rules.quiet_hours("sms"),
        fallback_timezone=settings.shop_timezone,
        calendar=settings.calendar(),
        estimate_window_days=settings.estimate_window_days,
        send_lease=times.lease,
        recent_deliveries=RecentDeliveries(),
    )
    ZoneInfo(settings.shop_timezone)  # checked now, not when the first text is due at 3 a.m.
    actors = declare_actors(broker, sessions, channels, settings, times)
    # A message could go twice without any crash if a lease ran out under a live send.
    lease.check(times, actors.send_notification.options["time_limit"])
    durable = make_sessionmaker(engine)
    return Runtime(settings, engine, sessions, durable, broker, actors, channels)


def send_times(
    settings: Settings, twilio: TwilioConfig | None, merchant: MerchantWebhookConfig | None
) -> lease.SendTimes:
    """The send lease and time limit the channels' timeouts call for (a channel not set up
    counts with its defaults, which cost nothing but a longer lease)."""
    return lease.send_times(
        settings.smtp_timeout,
        (twilio or TwilioConfig).timeout,
        (merchant or MerchantWebhookConfig).timeout,
    )


def twilio_config(settings: Settings) -> TwilioConfig | None:
    if not (settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from):
        return None
    return TwilioConfig(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token,
        sender=settings.twilio_from,
        api_base=settings.twilio_api_base,
        status_callback_url=f"{settings.public_base_url}/webhooks/twilio",
    )


def merchant_config(settings: Settings) -> MerchantWebhookConfig | None:
    if not (settings.merchant_webhook_url and settings.merchant_webhook_secret):
        return None
    parse_secret(settings.merchant_webhook_secret)  # a bad one stops start-up, naming it
    _check_merchant_url(settings.merchant_webhook_url, settings.allow_private_webhook_urls)
    return MerchantWebhookConfig(
        url=settings.merchant_webhook_url,
        secret=settings.merchant_webhook_secret,
        allow_private=settings.allow_private_webhook_urls,
    )


def _check_merchant_url(url: str, allow_private: bool) -> None:
    """An internal address or a scheme we never call stops start-up, naming the setting (the
    URL itself may carry the merchant's token). A name is checked at every connection."""
    try:
        ssrf.check_configured_url(url, allow_private)
    except ssrf.RefusedUrl as exc:
        hint = "; set ALLOW_PRIVATE_WEBHOOK_URLS=true only on a trusted network"
        raise ValueError(
            f"MERCHANT_WEBHOOK_URL is refused: {exc}{hint if exc.internal else ''}"
        ) from None


def smtp_config(settings: Settings) -> SmtpConfig | None:
    if not settings.smtp_host:
        return None
    config = SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        username=settings.smtp_username,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
        implicit_tls=settings.smtp_ssl,
        tls_verify=settings.smtp_tls_verify,
        ca_file=settings.smtp_ca_file,
        timeout=settings.smtp_timeout,
        helo_name=urlsplit(settings.public_base_url).hostname or "localhost",
    )
    if config.starttls or config.implicit_tls:
        _check_tls(config)
    return config


def _check_tls(config: SmtpConfig) -> None:
    """Load SMTP_CA_FILE now: a bad path stops start-up, not the first email at 3 a.m."""
    try:
        tls_context(config.tls_verify, config.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"SMTP_CA_FILE={config.ca_file!r} cannot be loaded: {exc}") from None
