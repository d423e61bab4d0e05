"""The send lease, the send actor's time limit and the longest attempt, in that order: a
claimed notification is never handed to a second worker while the first may still be sending
it. Dramatiq's time limit cannot interrupt a blocking read, so every channel's socket timeouts,
times the blocking steps of one attempt, must fit inside the limit, and the limit inside the
lease. Derived from the settings, and checked when a worker starts."""

from datetime import timedelta

import pytest

from ordertrack.notifications import lease
from ordertrack.settings import Settings
from workers.runtime import build_runtime

#: Blocking reads any SMTP session waits on, each up to SMTP_TIMEOUT: the banner, EHLO, MAIL,
#: RCPT, DATA, the end of the data and QUIT, and the connect before them.
SMTP_READS_AT_LEAST = 8


def _runtime(**settings):
    base = {"database_url": "sqlite://", "smtp_host": "mail.test", "signing_secret": "s"}
    return build_runtime(Settings(**(base | settings)))


@pytest.mark.parametrize("smtp_timeout", [10.0, 30.0, 90.0])
def test_the_lease_outlasts_the_send_time_limit_which_outlasts_an_attempts_timeouts(smtp_timeout):
    runtime = _runtime(smtp_timeout=smtp_timeout)

    time_limit = timedelta(milliseconds=runtime.actors.send_notification.options["time_limit"])
    send_lease = runtime.channels.send_lease

    assert timedelta(seconds=smtp_timeout * SMTP_READS_AT_LEAST) < time_limit
    assert time_limit < send_lease
    assert send_lease - time_limit >= timedelta(seconds=10), "a margin, not a tie"


def test_the_time_limit_covers_a_text_and_its_lookup_and_a_merchant_webhook():
    times = lease.send_times(smtp_timeout=1.0, twilio_timeout=20.0, merchant_timeout=25.0)
    # Twilio: the lookup before a retry, then the POST; each a connect and a read.
    assert times.longest_attempt > timedelta(seconds=4 * 20.0)
    assert times.longest_attempt > timedelta(seconds=2 * 25.0)
    assert times.longest_attempt < times.time_limit < times.lease


def test_a_worker_whose_send_time_limit_the_lease_does_not_outlast_refuses_to_start():
    times = lease.send_times(smtp_timeout=10.0, twilio_timeout=10.0, merchant_timeout=15.0)
    too_long = int(times.lease.total_seconds() * 1000)

    with pytest.raises(lease.LeaseTooShort, match="lease") as refused:
        lease.check(times, actor_time_limit_ms=too_long)
    assert "time limit" in str(refused.value)

    too_short = int(times.longest_attempt.total_seconds() * 1000)
    with pytest.raises(lease.LeaseTooShort):
        lease.check(times, actor_time_limit_ms=too_short)
    lease.check(times, actor_time_limit_ms=int(times.time_limit.total_seconds() * 1000))
