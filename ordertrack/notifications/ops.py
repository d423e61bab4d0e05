"""Telling the merchant about alerts: each as a signed `ops.*` merchant webhook, sent by the
sweeper's loop (within one SWEEP_INTERVAL_SECONDS of its cause) and retried on the order
events' schedule; and an email digest to MERCHANT_EMAIL, at most one an hour, listing what
was raised since the last one and the delay flags still open. The sweeper passes `now`, so
tests drive the clock."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy.orm import Session, sessionmaker

from ordertrack.alerts import event_type
from ordertrack.delays import WORDS
from ordertrack.notifications import email, merchant_webhook
from ordertrack.notifications.errors import DeliveryError
from ordertrack.notifications.sender import MERCHANT_RETRY_SCHEDULE
from ordertrack.store import alerts as store
from ordertrack.store import documents, flags
from ordertrack.store.alert_models import Alert, WebhookStatus

log = logging.getLogger(__name__)

#: A claimed attempt holds its alert this long: a sweeper killed mid-send loses no alert.
LEASE = timedelta(minutes=2)
#: The schedule's attempts and the first one.
MAX_ATTEMPTS = len(MERCHANT_RETRY_SCHEDULE) + 1
DIGEST_EVERY = timedelta(hours=1)
#: The open delay flags a digest lists one by one (all of them are counted by kind).
OLDEST_FLAGS = 5
RETRY = "retry"


@dataclass(frozen=True)
class Digest:
    smtp: email.SmtpConfig | None
    #: MERCHANT_EMAIL; no digest when unset.
    to: str | None
    shop_name: str
    #: PUBLIC_BASE_URL, to link the console's Needs attention page.
    console_url: str | None = None


def deliver_webhooks(sessions: sessionmaker[Session], merchant, now: datetime) -> int:
    """Send every due alert; returns how many went. A transient failure ends the batch: the
    endpoint is down, and the sweeper must not wait out a timeout per alert."""
    with sessions.begin() as session:
        due = store.due_for_webhook(session, now)
    sent = 0
    for alert_id in due:
        status = _deliver_one(sessions, alert_id, merchant, now)
        sent += status == WebhookStatus.SENT
        if status == RETRY:
            break
    return sent


def _deliver_one(sessions: sessionmaker[Session], alert_id: int, merchant, now) -> str | None:
    with sessions.begin() as session:
        row = store.claim_webhook(session, alert_id, now, now + LEASE)
    if row is None:
        return None
    values = _attempt(row, merchant, now)
    with sessions.begin() as session:
        store.record_webhook(session, alert_id, row.webhook_attempts, **values)
    retrying = values["webhook_status"] == WebhookStatus.PENDING
    return RETRY if retrying else values["webhook_status"]


def _attempt(row, merchant, now: datetime) -> dict:
    if merchant is None:
        reason = "MERCHANT_WEBHOOK_URL or MERCHANT_WEBHOOK_SECRET is not set"
        return _outcome(WebhookStatus.SKIPPED, reason)
    msg_id = merchant_webhook.webhook_id(row.id, row.created_at, table="alert")
    data = {"alert_id": row.id} | row.detail
    try:
        body = merchant_webhook.ops_event_body(event_type(row.kind), data, row.created_at)
        # The attempt's own clock signs it: a receiver rejects a timestamp minutes off.
        merchant_webhook.send(merchant, msg_id, body)
    except DeliveryError as exc:
        return _failed(exc, row.webhook_attempts, now)
    except Exception as exc:  # a bug of ours: recorded and visible, never re-driven forever
        return _outcome(WebhookStatus.FAILED, f"could not build the event: {type(exc).__name__}")
    return _outcome(WebhookStatus.SENT, None, webhook_sent_at=now)


def _failed(exc: DeliveryError, attempt: int, now: datetime) -> dict:
    if exc.permanent:
        return _outcome(WebhookStatus.FAILED, exc.reason)
    if attempt >= MAX_ATTEMPTS:
        return _outcome(WebhookStatus.FAILED, f"gave up after {attempt} attempts: {exc.reason}")
    wait = max(float(MERCHANT_RETRY_SCHEDULE[attempt - 1]), exc.retry_after or 0.0)
    due = now + timedelta(seconds=wait)
    return _outcome(WebhookStatus.PENDING, exc.reason, webhook_due_at=due)


def _outcome(status: str, reason: str | None, **values) -> dict:
    values.setdefault("webhook_due_at", None)
    return {"webhook_status": status, "webhook_error": reason and reason[:1000]} | values


def send_digest(sessions: sessionmaker[Session], digest: Digest, now: datetime) -> int:
    """Email the alerts raised since the last digest and the open delay flags; returns how
    many things it listed. Open flags are worth a digest on their own (a late parcel stays a
    person's job until it clears), still at most one an hour; nothing when there is nothing
    to say. A failure leaves them for the next sweep (DeliveryError is the caller's to log)."""
    if digest.smtp is None or not digest.to:
        return 0
    with sessions.begin() as session:
        last = store.last_digest_at(session)
        if last is not None and now - last < DIGEST_EVERY:
            return 0
        listed = store.undigested(session)
        delays = _open_delays(session, now)
        if not listed and not delays.total:
            return 0
        message = _message(digest, listed, delays, last, now)
        ids = [alert.id for alert in listed]
    email.send(digest.smtp, message)
    with sessions.begin() as session:
        store.mark_digested(session, ids, now, flags=delays.total)
    return len(ids) + delays.total


@dataclass(frozen=True)
class OpenDelays:
    """What the digest says of the delay flags: counts by kind, and the oldest few."""

    by_kind: dict[str, int]
    oldest: list[dict]

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


def _open_delays(session: Session, now: datetime) -> OpenDelays:
    by_kind = flags.count_open_by_kind(session)
    rows, _ = flags.attention(session, limit=OLDEST_FLAGS) if by_kind else ([], None)
    return OpenDelays(by_kind, [documents.flag_row(flag, order, now) for flag, order in rows])


def _message(
    digest: Digest, listed: list[Alert], delays: OpenDelays, last: datetime | None, now
) -> EmailMessage:
    count = f"{len(listed)} alert{'s' if len(listed) != 1 else ''}"
    since = f" since {_when(last)}" if last else ""
    lines = []
    if listed:
        lines += [f"{count} for {digest.shop_name}{since}:", ""]
        lines += [f"- {_when(a.created_at)}  {event_type(a.kind)}  {_summary(a)}" for a in listed]
        lines += ["", "Each was also sent to MERCHANT_WEBHOOK_URL, when set, as it happened."]
    if delays.total:
        lines += ["", *_delay_lines(digest, delays)] if lines else _delay_lines(digest, delays)
    subject = [f"{count}{since}"] if listed else []
    if delays.total:
        subject.append(_open_count(delays.total))
    message = EmailMessage()
    message["From"] = digest.smtp.sender
    message["To"] = digest.to
    message["Subject"] = f"{digest.shop_name}: {', '.join(subject)}"
    if listed:
        name = f"alerts.{listed[0].id}-{listed[-1].id}"
    else:
        name = f"delays.{now.strftime('%Y%m%d%H%M%S')}"
    message["Message-ID"] = f"<ordertrack.{name}@{digest.smtp.helo_name}>"
    message.set_content("\n".join(lines) + "\n")
    return message


def _delay_lines(digest: Digest, delays: OpenDelays) -> list[str]:
    lines = [f"{_open_count(delays.total)} for {digest.shop_name}, by kind:", ""]
    lines += [f"- {WORDS.get(kind, kind)} ({kind}): {n}" for kind, n in delays.by_kind.items()]
    lines += ["", f"The oldest {len(delays.oldest)}:", ""]
    lines += [
        f"- {row['order']}  {row['parcel']}  {row['kind']} since {_when(row['since'])}"
        f" ({row['for']}): {row['detail']}"
        for row in delays.oldest
    ]
    where = f" ({digest.console_url}/admin/attention)" if digest.console_url else ""
    lines += ["", f"The console's Needs attention page lists them all{where}."]
    return lines


def _open_count(n: int) -> str:
    return f"{n} open delay{'s' if n != 1 else ''}"


def _summary(alert: Alert) -> str:
    """The detail as `name=value` pairs: ids and codes, nothing personal (see alerts.py)."""
    return " ".join(f"{k}={v}" for k, v in alert.detail.items() if v is not None)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
