"""Deliver one outbox row: claim it, check it is still news, send, record the outcome.

Claim-then-act-then-record (docs/reliability.md, "Effects once on an at-least-once queue"): the
claim (claims.py) bumps our own attempt counter in its own commit, so a worker killed mid-send
still counts the attempt, and the sweeper can hand a row stuck in `sending` to another worker
once its send lease (lease.py) has run out. The outcome of a send the provider took is recorded
even if the database fails the first try: a row left `sending` would be sent again after the
lease.
"""

import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from ordertrack import alerts
from ordertrack.masking import scrubbed
from ordertrack.notifications import channels as channels_module
from ordertrack.notifications import claims, news_rules
from ordertrack.notifications.channels import Channels, NotConfigured
from ordertrack.notifications.claims import MERCHANT_RETRY_SCHEDULE, MERCHANT_WEBHOOK
from ordertrack.notifications.errors import DeliveryError
from ordertrack.notifications.lease import RECORD_RETRY_WAITS
from ordertrack.notifications.timezones import customer_timezone
from ordertrack.statuses import FINAL_ORDER_STATUSES
from ordertrack.store import estimates, flags, unsubscribes
from ordertrack.store.db import RECORDING_WAIT_SECONDS
from ordertrack.store.documents import order_document
from ordertrack.store.models import ORDER_NEWS, Outbox, OutboxAttempt, OutboxStatus
from ordertrack.store.orders import load_order, lock_order, to_state
from ordertrack.store.overdue import bound_lock_waits

__all__ = ["Channels", "SendOutcome", "Unrecorded", "deliver", "unfinished"]

log = logging.getLogger(__name__)

EMAIL = "email"

#: Skipped because no longer true; such a row may become due again (see the pipeline).
STALE_PREFIX = "stale:"


class Unrecorded(Exception):
    """An attempt's outcome could not be recorded, even after a few tries: the row stays
    `sending` until its lease runs out; then it is claimed again as one whose last attempt
    is unknown (a text is looked up in Twilio's list first)."""

    def __init__(self, outbox_id: int, outcome: "SendOutcome") -> None:
        super().__init__(f"outbox {outbox_id}: the {outcome.recorded_as} attempt is unrecorded")
        self.outcome = outcome


@dataclass(frozen=True)
class SendOutcome:
    status: str
    reason: str | None = None
    #: True when the caller should try again later (with backoff).
    retry: bool = False
    #: Seconds the other side asked us to wait (Retry-After), or until the row is due.
    wait: float | None = None
    provider_message_id: str | None = None
    #: The recipient opted out with the provider (replied STOP): recorded as unsubscribed.
    opted_out: bool = False
    #: The channel of an attempt that was recorded; None when nothing was tried (not due).
    channel: str | None = None
    #: The claim found the previous attempt never recorded (logged `unknown`).
    unrecorded_before: bool = False

    @property
    def recorded_as(self) -> str:
        """The attempt's outcome as the attempt log and the edge's counters name it."""
        if self.retry:
            return "ambiguous" if self.status == OutboxStatus.AMBIGUOUS else "retry"
        return self.status


def _not_due_yet(session: Session, outbox_id: int) -> float | None:
    """Seconds until a waiting row is due, when it was sent to the queue early."""
    row = session.get(Outbox, outbox_id)
    if row is None or row.status not in OutboxStatus.WAITING or row.due_at is None:
        return None
    wait = (row.due_at - datetime.now(UTC)).total_seconds()
    return wait if wait > 0 else None


def deliver(sessions: sessionmaker[Session], outbox_id: int, channels: Channels) -> SendOutcome:
    with sessions.begin() as session:
        claimed = claims.claim(
            session,
            outbox_id,
            max_attempts=channels.max_attempts,
            lease=channels.send_lease,
            now=datetime.now(UTC),
        )
        if claimed is None:
            wait = _not_due_yet(session, outbox_id)
            return SendOutcome("not due", wait=wait) if wait else SendOutcome("unchanged")
        if isinstance(claimed, claims.GaveUp):
            return SendOutcome(OutboxStatus.FAILED, claimed.reason, channel=claimed.channel)
        job, skip = _job(session, outbox_id, claimed, channels)
        quiet_until = _quiet_until(job, channels)
        if quiet_until:
            # Due, but it is night where the customer is now (a retry, the sweeper catching
            # up, a resend): back to waiting, the attempt not counted, sent in the morning.
            session.execute(_defer(outbox_id, job, quiet_until))
            return SendOutcome("not due", wait=(quiet_until - datetime.now(UTC)).total_seconds())
    outcome = replace(_outcome(job, skip, channels), unrecorded_before=claimed.unrecorded)
    return _record_durably(sessions, outbox_id, job, outcome)


def _outcome(job, skip: SendOutcome | None, channels: Channels) -> SendOutcome:
    """The attempt's outcome, its reason masked; a retry past the last attempt fails."""
    outcome = _scheduled(skip or _attempt(job, channels), job)
    reason = scrubbed(outcome.reason, job.recipient, job.channel)
    outcome = replace(outcome, reason=reason, channel=job.channel)
    if outcome.retry and job.attempts >= claims.attempts_allowed(
        job.channel, channels.max_attempts
    ):
        reason = f"gave up after {job.attempts} attempts: {outcome.reason}"
        return SendOutcome(OutboxStatus.FAILED, reason, channel=job.channel)
    return outcome


def _record_durably(sessions, outbox_id: int, job, outcome: SendOutcome) -> SendOutcome:
    """Record the attempt; when the database fails the transaction (a dropped connection, a
    lock or statement timeout), try again on a fresh connection, RECORD_RETRY_WAITS apart.
    The send lease counts these tries (lease.py)."""
    waits = iter(RECORD_RETRY_WAITS)
    while True:
        try:
            with sessions.begin() as session:
                bound_lock_waits(session, int(RECORDING_WAIT_SECONDS * 1000))
                return _record(session, outbox_id, job, outcome)
        except (DBAPIError, PoolTimeout) as exc:
            wait = next(waits, None)
            if wait is None:
                raise Unrecorded(outbox_id, outcome) from None
            log.warning(
                "outbox %s: recording attempt %s failed (%s); trying again in %s s",
                outbox_id,
                job.attempts,
                type(exc).__name__,
                wait,
            )
            time.sleep(wait)


def _record(session: Session, outbox_id: int, job, outcome: SendOutcome) -> SendOutcome:
    if outcome.reason and outcome.reason.startswith(STALE_PREFIX):
        outcome = _recheck_stale(session, job, outcome)
    recorded = session.execute(_record_query(outbox_id, job.attempts, outcome)).rowcount
    session.add(_attempt_row(outbox_id, job.attempts, outcome))
    if outcome.opted_out:
        unsubscribes.record(session, job.channel, job.recipient)
    if recorded and outcome.status == OutboxStatus.FAILED:
        alerts.notification_failed(session, outbox_id, job, outcome.reason, datetime.now(UTC))
    return outcome


def _quiet_until(job, channels: Channels) -> datetime | None:
    """When a text may go, if not now: quiet hours hold at sending time too."""
    quiet = channels.sms_quiet_hours
    if job.channel != "sms" or quiet is None:
        return None
    customer = job.state.customer
    zone = customer_timezone(
        customer.country_code, customer.province_code, channels.fallback_timezone
    )
    now = datetime.now(UTC)
    allowed = quiet.next_allowed(now, zone)
    return allowed if allowed > now else None


def _defer(outbox_id: int, job, due: datetime):
    """Back to waiting, the attempt uncounted; still `ambiguous` if the last one may have gone,
    so the next attempt still looks first."""
    status = OutboxStatus.AMBIGUOUS if job.reconcile else OutboxStatus.PENDING
    return _this_attempt(
        outbox_id, job.attempts, status=status, attempts=job.attempts - 1, due_at=due
    )


def _this_attempt(outbox_id: int, attempt: int, **values):
    """An update of the row only while it is still this attempt's: a worker that stalled past
    its lease must not overwrite what the one that took over recorded."""
    query = (
        update(Outbox)
        .where(
            Outbox.id == outbox_id,
            Outbox.status == OutboxStatus.SENDING,
            Outbox.attempts == attempt,
        )
        .values(**values)
    )
    return query.execution_options(synchronize_session=False)


def _scheduled(outcome: SendOutcome, job) -> SendOutcome:
    """A merchant webhook's retry waits by the schedule, or longer if the endpoint said so: a
    short Retry-After must not use the whole schedule up in seconds."""
    if not outcome.retry or job.channel != MERCHANT_WEBHOOK:
        return outcome
    step = min(job.attempts, len(MERCHANT_RETRY_SCHEDULE)) - 1
    return replace(outcome, wait=max(float(MERCHANT_RETRY_SCHEDULE[step]), outcome.wait or 0.0))


@dataclass(frozen=True)
class _Claimed(channels_module.Job):
    attempts: int = 0


def _job(
    session: Session, outbox_id: int, row: claims.Claim, channels: Channels
) -> tuple[_Claimed, SendOutcome | None]:
    """What the attempt needs, and the reason to skip it without sending, if there is one."""
    order = load_order(session, row.order_id)
    state = to_state(order)
    document = order_document(session, order) if row.channel == MERCHANT_WEBHOOK else {}
    learned, now = {}, datetime.now(UTC)
    today = channels.calendar.local(now).date()
    if row.channel == EMAIL:
        book = estimates.Book(
            channels.calendar,
            now,
            channels.estimate_window_days,
            shared=channels.recent_deliveries,
        )
        learned = book.for_order(session, order, state.shipments, today=today)
    job = _Claimed(
        outbox_id=outbox_id,
        order_id=row.order_id,
        parcel=row.parcel,
        kind=row.kind,
        channel=row.channel,
        recipient=row.recipient,
        state=state,
        created_at=row.created_at,
        order_document=document,
        learned=learned,
        today=today,
        reconcile=row.reconcile,
        attempts=row.attempts,
    )
    if row.channel != MERCHANT_WEBHOOK and _stale(session, row.kind, state, row.parcel):
        return job, SendOutcome(OutboxStatus.SKIPPED, f"{STALE_PREFIX} {_where(state, row.parcel)}")
    if unsubscribes.has_unsubscribed(session, row.channel, row.recipient):
        return job, SendOutcome(OutboxStatus.SKIPPED, "the recipient unsubscribed")
    return job, None


def _stale(session: Session, kind: str, state, parcel: str) -> bool:
    """A delay's news is stale once its flag cleared; everything else by the order's state."""
    if news_rules.base_kind(kind) == news_rules.DELAYED:
        flag_id = int(kind.partition(":")[2] or 0)
        return news_rules.delay_is_stale(state, parcel) or not flags.is_open(session, flag_id)
    return _is_stale(kind, state, parcel)


def _is_stale(kind: str, state, parcel: str) -> bool:
    """A parcel's news is checked against that parcel; the order's against the order."""
    if parcel == ORDER_NEWS:
        # The order's own word on a parcel's news, for an order that named no parcel: moot
        # once a parcel is there to tell it.
        named = news_rules.base_kind(kind) in news_rules.PARCEL_KINDS
        return news_rules.is_stale(kind, state.status) or (named and _has_parcels(state))
    if news_rules.base_kind(kind) in news_rules.PARCEL_KINDS:
        return news_rules.parcel_news_is_stale(
            kind, state.status, news_rules.find_parcel(state, parcel)
        )
    return news_rules.is_stale(kind, state.status)


def _has_parcels(state) -> bool:
    return any(s.live for s in state.shipments)


def _where(state, parcel: str) -> str:
    shipment = state.shipment(news_rules.parcel_key(parcel)) if parcel != ORDER_NEWS else None
    if shipment is None or state.status in FINAL_ORDER_STATUSES:
        return f"the order is {state.status} now"
    return f"the parcel is {shipment.status if shipment.live else 'cancelled'} now"


def _recheck_stale(session: Session, job, outcome: SendOutcome) -> SendOutcome:
    """Decide "stale" again under the order's lock: a transition committing meanwhile would
    otherwise find this row still `sending`, not revive it, and its news would be lost."""
    state = to_state(lock_order(session, job.order_id))
    if _stale(session, job.kind, state, job.parcel):
        return outcome
    reason = "true again while being skipped"
    return SendOutcome(OutboxStatus.PENDING, reason, retry=True, channel=job.channel)


def _attempt(job, channels: Channels) -> SendOutcome:
    try:
        provider_id = channels_module.send(job, channels)
    except NotConfigured as exc:
        return SendOutcome(OutboxStatus.SKIPPED, str(exc))
    except DeliveryError as exc:
        if exc.permanent:
            return SendOutcome(OutboxStatus.FAILED, exc.reason, opted_out=exc.opted_out)
        waiting = OutboxStatus.AMBIGUOUS if exc.ambiguous else OutboxStatus.PENDING
        return SendOutcome(waiting, exc.reason, retry=True, wait=exc.retry_after)
    except Exception as exc:  # a bug of ours: recorded and visible, never re-driven forever
        return SendOutcome(
            OutboxStatus.FAILED, f"could not build the message: {type(exc).__name__}"
        )
    return SendOutcome(OutboxStatus.SENT, provider_message_id=provider_id)


def _record_query(outbox_id: int, attempt: int, outcome: SendOutcome):
    """Record this attempt's outcome (only while the row is still this attempt's)."""
    now = datetime.now(UTC)
    values = {"status": outcome.status, "last_error": outcome.reason, "touched_at": now}
    if outcome.status == OutboxStatus.SENT:
        values |= {"sent_at": now, "message_id": outcome.provider_message_id}
        values["provider_message_id"] = (outcome.provider_message_id or "")[:64] or None
    if outcome.retry and outcome.wait is not None:
        # Not due again before then: the sweeper must not re-drive it early.
        values["due_at"] = now + timedelta(seconds=outcome.wait)
    return _this_attempt(outbox_id, attempt, **values)


def _attempt_row(outbox_id: int, attempt: int, outcome: SendOutcome) -> OutboxAttempt:
    return OutboxAttempt(
        outbox_id=outbox_id,
        attempt=attempt,
        at=datetime.now(UTC),
        outcome=outcome.recorded_as,
        reason=(outcome.reason or "")[:1000] or None,
    )


def unfinished(
    session: Session,
    untouched_for: timedelta,
    limit: int = 500,
    after_id: int = 0,
    *,
    lease: timedelta,
) -> list[int]:
    """Notifications the sweeper sends to the queue again (claims.unfinished), a batch from
    `after_id` on, locked (a row another transaction holds is left for next time)."""
    return claims.unfinished(session, untouched_for, lease, limit, after_id)
