"""The error vocabulary. The HTTP edge maps each to a status code in one place
(`service.errors`); the queue edge maps each to retry or give up (`workers.actors`)."""


class OrdertrackError(Exception):
    """Base of every error this package raises on purpose."""

    status_code = 500
    #: True when trying again later may succeed (the queue edge retries these).
    transient = False

    def __init__(self, message: str, details: object = None) -> None:
        super().__init__(message)
        self.message = message
        #: Machine-readable specifics (which fields failed), safe to show the sender.
        self.details = details


class MalformedPayload(OrdertrackError):
    """The body is not the strict JSON a provider sends (bad UTF-8, too deep, NaN, ...)."""

    status_code = 400


class BadSignature(OrdertrackError):
    """The signature is missing, wrong or stale."""

    status_code = 401


class UnknownSource(OrdertrackError):
    """No provider module answers to this URL slug."""

    status_code = 404


class SourceNotConfigured(OrdertrackError):
    """The provider exists but its WEBHOOK_SECRET_<SOURCE> is not set, so nothing can verify."""

    status_code = 404


class PayloadTooLarge(OrdertrackError):
    """The body is over MAX_BODY_BYTES."""

    status_code = 413


class UnsupportedMediaType(OrdertrackError):
    """The content type is not what the provider sends."""

    status_code = 415


class NulCharacter(OrdertrackError):
    """Text holding a NUL character (\\x00): no PostgreSQL text value or parameter can hold it."""

    status_code = 400


class NulInPath(NulCharacter):
    """A path value holding a NUL character: it names nothing."""

    status_code = 404


class UnknownTopic(OrdertrackError):
    """A topic the provider never sends: a forgery or a misconfigured sender."""

    status_code = 400


class MissingFields(OrdertrackError):
    """Well-formed JSON that lacks what the topic must carry."""

    status_code = 422


class StoreUnavailable(OrdertrackError):
    """The database could not commit in time: the sender must retry."""

    status_code = 503
    transient = True


class UpstreamUnavailable(OrdertrackError):
    """A source's own API could not answer now (down, throttled, refused our credentials):
    the worker retries with backoff, or after `retry_after` seconds when the API said so."""

    status_code = 502
    transient = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamRefused(OrdertrackError):
    """A source's API says the resource is gone, or ordertrack is not set up to ask it:
    retrying cannot help, so the event is marked failed with the reason."""

    status_code = 502


class AttemptsExhausted(OrdertrackError):
    """Every attempt at a row started and none finished (the worker was killed, ran out of
    memory, or went over its time limit): the claim gives up on it after MAX_ATTEMPTS."""
