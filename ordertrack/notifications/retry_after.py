"""Retry-After (RFC 9110): how long the other side asked us to wait, read one way for every
channel that sends over HTTP (Twilio, the merchant's endpoint)."""

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

#: Longer than this is not a wait but an outage: the retry schedule takes over from there.
MAX_RETRY_AFTER = 24 * 3600.0


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait, from delta-seconds or an HTTP date; None when absent or unreadable
    (the usual backoff applies), never negative, never more than MAX_RETRY_AFTER."""
    if not value:
        return None
    now = now or datetime.now(UTC)
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
