"""How a channel says an attempt failed: whether trying again could help, and when."""


class DeliveryError(Exception):
    """Sending failed; `permanent` says whether trying again could help, `retry_after`
    (seconds) when the other side said when to come back (Twilio's 429 Retry-After), and
    `ambiguous` that the message may have gone all the same (a 5xx or a timeout after the
    request was sent): the row becomes `ambiguous`, and the next attempt looks before it sends,
    where the channel can."""

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool,
        retry_after: float | None = None,
        opted_out: bool = False,
        ambiguous: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
        #: The recipient told the provider to stop (a text answered STOP): never again.
        self.opted_out = opted_out
        self.ambiguous = ambiguous
