"""The fault and attack matrix: every fault ordertrack must survive and every input it must
refuse, with the invariant that says what "survived" means. Each row is proved by the tests
in tests/faults marked `@pytest.mark.fault("<ID>")`, or, for the long soak, by a command
run by hand whose last result docs/faults.md records. `make faults` prints the table.

The invariants, counted after the fault clears and the system has drained:
  I1 no silent accept: ids answered 2xx == inbox rows (set equality).
  I2 no loss: every required message reaches a terminal state; none pending or sending.
  I3 sink completeness: distinct messages at the SMTP and Twilio sinks == those expected.
  I4 duplicates: sink copies minus distinct ids is 0 for every fault without a kill, and at
     most 1 per kill that lands in an ambiguous window.
  I5 no 5xx on bad input, no 2xx on unauthenticated input.
  I6 bounded latency: acks and recovery within their budgets.
  I7 no leaks: no secret or personal data in any process's log.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    id: str
    fault: str
    invariant: str
    #: The command that proves the row when it is too long for `make test`, else None.
    by_hand: str | None = None


ROWS: tuple[Row, ...] = (
    Row("ING-1", "baseline load, many concurrent clients on gunicorn", "I1-I4 exact, p99 ack"),
    Row("ING-2", "the same webhook 5 times in a row", "one row, one email, one SMS"),
    Row("ING-3", "the same webhook 5 times at once", "one row, no 500"),
    Row("ING-4", "same webhook id, different body", "no second effect, original kept"),
    Row("ING-5", "events of one order in every order", "final state right, no repeat"),
    Row("ING-6", "Redis down during ingestion", "2xx goes on; I2, I3 after restart"),
    Row("ING-7", "PostgreSQL down during ingestion", "503 within 2 s, I1 after retries"),
    Row("ING-8", "web worker killed mid-request", "I1; retries deduplicated"),
    Row("SIG-1", "signed request 10 minutes old", "refused, nothing stored"),
    Row("SIG-2", "timestamp at the tolerance boundary", "inside accepted, outside refused"),
    Row("SIG-3", "a captured request replayed 10 times", "one effect"),
    Row("SIG-4", "bad or malformed signature headers", "400/401, never 500, bounded time"),
    Row("SIG-5", "secret rotation", "old accepted while configured only"),
    Row("SIG-6", "Standard Webhooks test vector", "exact signature"),
    Row("SIG-7", "constant-time comparison", "compare_digest, no =="),
    Row("INP-1", "10 MB body with Content-Length", "413 at once, body not read"),
    Row("INP-2", "10 MB chunked body", "413 or 400, never 2xx or 500"),
    Row("INP-3", "invalid UTF-8, validly signed", "400, nothing stored"),
    Row("INP-4", "JSON nested 1,000 and 100,000 deep", "400, never 500"),
    Row("INP-5", "huge integers, NaN, duplicate keys", "400 for each"),
    Row("INP-6", "wrong content type, empty body", "415/400, never 500"),
    Row("INP-7", "slow clients (slowloris)", "other clients answered in time"),
    Row("Q-1", "worker killed before the send", "I2, I3; no duplicate"),
    Row("Q-2", "worker killed after the provider accepted", "at most one copy per kill"),
    Row("Q-3", "worker killed after commit, before ack", "redelivery is a no-op"),
    Row("Q-4", "a poison event that kills its worker", "given up after the cap, alert"),
    Row("Q-5", "SIGTERM during load (a deploy)", "I2, I3, no duplicate"),
    Row("Q-6", "Redis restarted with retries pending", "every retry still runs"),
    Row("Q-7", "Redis crash losing its data", "the sweeper re-drives; I2, I3"),
    Row("Q-8", "Redis frozen (SIGSTOP) then thawed", "no thread stuck, drains after"),
    Row("Q-9", "a send that always fails", "attempts capped, failed, alert"),
    Row("Q-10", "an undecodable message in the queue", "good ones processed, no loop"),
    Row("Q-11", "SMTP server that never greets", "fails at the socket timeout"),
    Row("Q-12", "a backlog with workers stopped", "drains, bounded memory"),
    Row("SMTP-1", "451 then 250", "one copy, sent after a retry"),
    Row("SMTP-2", "421 at greeting", "retried, then sent"),
    Row("SMTP-3", "550 5.1.1", "failed at once, no retry"),
    Row("SMTP-4", "one of two recipients refused", "no silent success"),
    Row("SMTP-5", "connection dropped after DATA", "sent; copies share a Message-ID"),
    Row("SMS-1", "Twilio 429 with Retry-After", "waits, one message"),
    Row("SMS-2", "Twilio 429 without Retry-After", "backs off, one message"),
    Row("SMS-3", "Twilio 500 after creating the message", "reconciled, one message"),
    Row("SMS-4", "Twilio 400 (21211)", "failed at once, no retry"),
    Row("SMS-5", "Twilio status callbacks, forged and repeated", "403 forged, applied once"),
    Row("SSRF-1", "internal addresses as merchant URLs", "refused, no connection"),
    Row("SSRF-2", "a name resolving to loopback", "blocked at connect"),
    Row("SSRF-3", "DNS rebinding", "connect-time address checked"),
    Row("SSRF-4", "redirect to an internal address", "failure, no connection"),
    Row("SSRF-5", "slow or huge merchant response", "cut at the limit"),
    Row("TRK-1", "order number enumeration", "uniform answers, rate limited"),
    Row("TRK-2", "tampered, truncated, foreign or expired token", "uniformly denied"),
    Row("TRK-3", "guessing the email for an order number", "uniform, locked out"),
    Row("TRK-4", "tracking number only", "carrier status only, no PII"),
    Row("TRK-5", "customer A's token on B's order, every route", "all denied"),
    Row("LOG-1", "secrets and personal data in logs", "none in any process's log"),
    Row(
        "LOAD-2",
        "30-minute soak with a random fault every 5 minutes",
        "I1-I3 exact, I4 within kills, no memory growth",
        by_hand="make soak",
    ),
)

BY_ID = {row.id: row for row in ROWS}
