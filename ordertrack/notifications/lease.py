"""How long a claimed notification stays its worker's (the send lease), worked out from the
timeouts that bound one attempt, so that no row is handed to a second worker while the first
may still be sending it.

One attempt is the claim, the channel's blocking steps, each bounded by its socket timeout
(Dramatiq's time limit cannot interrupt a blocking read: it strikes between two), and the
recording of the outcome, tried again for a while if the database fails it. The send actor's
time limit must outlast that whole attempt, or it would cut a send short after the provider
took it; the lease must outlast the time limit, or the sweeper would hand the row on while the
first worker still runs. A worker checks the relation when it starts (`check`).
"""

from dataclasses import dataclass
from datetime import timedelta

from ordertrack.store.db import CONNECT_TIMEOUT_SECONDS, RECORDING_WAIT_SECONDS

#: Blocking reads of one SMTP attempt at worst, each up to SMTP_TIMEOUT (smtp_connection.py):
#: on the thread's kept connection NOOP and a MAIL that finds it dropped; then a new one's
#: connect, banner, EHLO, STARTTLS (its handshake) and EHLO again, AUTH (a challenge and the
#: answer), MAIL, RCPT, DATA and the end of the data.
SMTP_STEPS = 14
#: An HTTP request's blocking steps, each up to the client's timeout: the connect, the answer.
HTTP_STEPS = 2
#: A text may take two requests: the look-up before retrying an ambiguous one, then the POST.
TWILIO_REQUESTS = 2
#: Waits (seconds) between the tries at recording an attempt's outcome, after the first.
RECORD_RETRY_WAITS = (0.5, 2.0)
#: Room for what no timeout bounds: rendering the message, the claim's own transaction.
MARGIN = timedelta(seconds=15)


class LeaseTooShort(ValueError):
    """The send lease does not outlast the send actor's time limit, or the time limit does not
    outlast the longest attempt: a message could be sent twice without any crash."""


@dataclass(frozen=True)
class SendTimes:
    #: Every timeout of one attempt added up: the channel's slowest, then the recording.
    longest_attempt: timedelta
    #: The send actor's Dramatiq time limit.
    time_limit: timedelta
    #: How long a `sending` row is left to its worker before another may claim it.
    lease: timedelta


def send_times(smtp_timeout: float, twilio_timeout: float, merchant_timeout: float) -> SendTimes:
    """The longest attempt from the channels' timeouts (seconds), and the limit and the lease
    that outlast it, each by MARGIN."""
    channel = max(
        smtp_timeout * SMTP_STEPS,
        twilio_timeout * HTTP_STEPS * TWILIO_REQUESTS,
        merchant_timeout * HTTP_STEPS,
    )
    tries = len(RECORD_RETRY_WAITS) + 1
    recording = sum(RECORD_RETRY_WAITS) + tries * (CONNECT_TIMEOUT_SECONDS + RECORDING_WAIT_SECONDS)
    longest = timedelta(seconds=channel + recording)
    return SendTimes(longest, longest + MARGIN, longest + 2 * MARGIN)


def time_limit_ms(times: SendTimes) -> int:
    """The send actor's time limit as Dramatiq takes it."""
    return int(times.time_limit.total_seconds() * 1000)


def check(times: SendTimes, actor_time_limit_ms: int) -> None:
    """At start-up: refuse to run unless the longest attempt < the actor's time limit < the
    lease, each by a margin."""
    limit = timedelta(milliseconds=actor_time_limit_ms)
    if not times.longest_attempt < limit:
        raise LeaseTooShort(
            f"the send actor's time limit ({limit.total_seconds():g} s) must outlast the"
            f" longest attempt its timeouts allow ({times.longest_attempt.total_seconds():g} s)"
        )
    if not limit + MARGIN <= times.lease:
        raise LeaseTooShort(
            f"the send lease ({times.lease.total_seconds():g} s) must outlast the send actor's"
            f" time limit ({limit.total_seconds():g} s) by {MARGIN.total_seconds():g} s"
        )
