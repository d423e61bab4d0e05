"""How many live-update streams (/t/<token>/events) one web process serves at once.

Under gunicorn's gthread workers a stream holds one of the process's threads for as long as it
is open, and that pool is the one every route shares: with as many pages open as threads, a
provider's webhook queued behind them for minutes, past every provider's timeout.

Why a cap, rather than streams that hold no thread: an async worker class (gevent, eventlet)
would free the threads, but only by monkey-patching the database, Redis and SMTP clients of
every route to make one route cheaper; streams in processes of their own would need the proxy
to route /t/*/events there, a step every deployment would have to get right, and without it
would be back to square one. A cap keeps the guarantee inside the process that answers
webhooks: streams get at most SSE_MAX_STREAMS threads and never more than half of them
(`ordertrack serve` fits the cap to its --threads), so a webhook always finds a thread. A page
past the cap is answered 503 with Retry-After and polls its fragment instead. And a stream
ends after service.tracking.STREAM_SECONDS (the browser reconnects after `retry:`): the
slots go round among the open pages, and a page left open all day, or a client gone without
a word, keeps a thread for a minute, not for good."""

import logging
import threading

from flask import Flask

log = logging.getLogger(__name__)

_SLOTS = "ordertrack.stream_slots"


class StreamSlots:
    """A counter of open streams with a ceiling; thread-safe."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open = 0
        self._lock = threading.Lock()

    @property
    def open(self) -> int:
        return self._open

    def take(self) -> bool:
        """A slot for one more stream, or False when every slot is taken."""
        with self._lock:
            if self._open >= self.limit:
                return False
            self._open += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self._open = max(0, self._open - 1)


def init_app(app: Flask, limit: int) -> None:
    app.extensions[_SLOTS] = StreamSlots(limit)


def slots(app: Flask) -> StreamSlots:
    return app.extensions[_SLOTS]


def fit_to_threads(app: Flask, threads: int) -> None:
    """Leave webhooks at least half the threads, whatever SSE_MAX_STREAMS says."""
    stream_slots = slots(app)
    most = threads // 2
    if stream_slots.limit > most:
        log.info(
            "live-update streams: %d per process (SSE_MAX_STREAMS is %d; half of %d threads)",
            most,
            stream_slots.limit,
            threads,
        )
        stream_slots.limit = most
