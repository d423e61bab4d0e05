"""One attempt on each channel: build the message for this row and send it. Each returns the
provider's message id (Twilio's SID) or None, raises DeliveryError when the attempt failed,
and NotConfigured when the deployment has not set the channel up."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from ordertrack.business_days import Calendar
from ordertrack.lanes import WINDOW_DAYS, Learned
from ordertrack.lifecycle.state import OrderState
from ordertrack.notifications import email, lease, merchant_webhook, messages, sms, twilio_lookup
from ordertrack.notifications.links import tracking_url, unsubscribe_url
from ordertrack.notifications.quiet_hours import QuietHours
from ordertrack.store.estimates import RecentDeliveries


class NotConfigured(Exception):
    """The channel's settings are missing: the row is skipped with this reason."""


def _default_send_lease() -> timedelta:
    """The lease the channels' default timeouts call for (the runtime derives its own)."""
    return lease.send_times(
        email.SmtpConfig.timeout,
        sms.TwilioConfig.timeout,
        merchant_webhook.MerchantWebhookConfig.timeout,
    ).lease


@dataclass(frozen=True)
class Channels:
    smtp: email.SmtpConfig | None
    shop_name: str
    message_domain: str
    max_attempts: int
    twilio: sms.TwilioConfig | None = None
    merchant: merchant_webhook.MerchantWebhookConfig | None = None
    #: Sign the unsubscribe link (newest first); PUBLIC_BASE_URL is where it points.
    link_keys: tuple[bytes, ...] = ()
    public_base_url: str = "http://localhost:8000"
    #: Texts wait out these hours in the customer's zone, checked again at sending time.
    sms_quiet_hours: QuietHours | None = None
    fallback_timezone: str = "UTC"
    #: The shop's business days, which date estimates learned from past deliveries.
    calendar: Calendar = field(default_factory=Calendar)
    estimate_window_days: int = WINDOW_DAYS
    #: How long a claimed row is its worker's before another may claim it (lease.py).
    send_lease: timedelta = field(default_factory=_default_send_lease)
    #: Learned estimates' deliveries, shared by this process's emails a while (None: read
    #: for each email).
    recent_deliveries: RecentDeliveries | None = None


@dataclass(frozen=True)
class Job:
    """What one attempt needs, read in the claim's transaction."""

    outbox_id: int
    order_id: int
    #: The shipment's key when the news is a parcel's, "" when it is the order's.
    parcel: str
    kind: str
    channel: str
    recipient: str
    state: OrderState
    created_at: datetime
    #: The order as the API shows it: what the merchant's webhook carries.
    order_document: dict
    #: Estimates learned from past deliveries, by shipment key (emails only).
    learned: Mapping[str, Learned] = field(default_factory=dict)
    #: The shop's today: an estimate before it is no promise any more.
    today: date | None = None
    #: The last attempt may have reached the recipient: a text is looked up before it is sent.
    reconcile: bool = False


def send(job: Job, channels: Channels) -> str | None:
    return SENDERS[job.channel](job, channels)


def _email(job: Job, channels: Channels) -> str | None:
    if channels.smtp is None:
        raise NotConfigured("SMTP_HOST is not set")
    link = _unsubscribe(job, channels)
    content = messages.render(
        job.kind,
        job.state,
        channels.shop_name,
        job.state.customer.locale,
        parcel=job.parcel,
        unsubscribe_url=link,
        page_url=tracking_url(channels.public_base_url, channels.link_keys, job.order_id),
        learned=job.learned,
        today=job.today,
    )
    # The same on every attempt, so a duplicate after an ambiguous failure is recognisable.
    message_id = f"<ordertrack.{job.outbox_id}.{job.order_id}@{channels.message_domain}>"
    message = email.build_message(channels.smtp, job.recipient, message_id, content)
    # RFC 8058: a mail client's own "unsubscribe" button, one click, no page to visit.
    message["List-Unsubscribe"] = f"<{link}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.send(channels.smtp, message)
    return message_id


def _sms(job: Job, channels: Channels) -> str | None:
    if channels.twilio is None:
        raise NotConfigured("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN or TWILIO_FROM is not set")
    body = messages.render_sms(
        job.kind,
        job.state,
        channels.shop_name,
        job.state.customer.locale,
        parcel=job.parcel,
        tracking_url_for=_page(job, channels),
    )
    # The callback URL names the message: Twilio may call back before we have recorded the
    # SID its answer carries (the signature covers the query, so it cannot be altered).
    config = channels.twilio
    if config.status_callback_url:
        callback = f"{config.status_callback_url}?outbox={job.outbox_id}"
        config = replace(config, status_callback_url=callback)
    if job.reconcile:
        # Twilio may have created it on the last attempt: if so, it is recorded sent as it is.
        found = twilio_lookup.find_sent(config, job.recipient, body, since=job.created_at)
        if found:
            return found
    return sms.send(config, job.recipient, body)


def _merchant(job: Job, channels: Channels) -> str | None:
    if channels.merchant is None:
        raise NotConfigured("MERCHANT_WEBHOOK_URL or MERCHANT_WEBHOOK_SECRET is not set")
    msg_id = merchant_webhook.webhook_id(job.outbox_id, job.created_at)
    body = merchant_webhook.event_body(
        job.kind, job.order_document, job.created_at, parcel=job.parcel
    )
    merchant_webhook.send(channels.merchant, msg_id, body)
    return msg_id


def _page(job: Job, channels: Channels):
    """Every message links to the order's own tracking page (which links each carrier)."""
    url = tracking_url(channels.public_base_url, channels.link_keys, job.order_id)
    return lambda shipment: url


def _unsubscribe(job: Job, channels: Channels) -> str:
    return unsubscribe_url(channels.public_base_url, channels.link_keys, job.outbox_id)


SENDERS: dict[str, Callable[[Job, Channels], str | None]] = {
    "email": _email,
    "sms": _sms,
    "merchant_webhook": _merchant,
}
