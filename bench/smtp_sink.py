"""A local SMTP server (aiosmtpd) in the bench process that records when each email arrived.

Arrival times use time.perf_counter(), the clock the load generator schedules with, so
"POST sent -> email accepted" is one subtraction.
"""

import contextlib
import threading
import time
from dataclasses import dataclass
from email.parser import BytesHeaderParser

from aiosmtpd.controller import Controller

from bench.common import free_port


@dataclass(frozen=True)
class Arrival:
    at: float  #: perf_counter() when DATA was accepted
    recipients: tuple[str, ...]
    message_id: str | None
    subject: str | None


class Recorder:
    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd API)
        now = time.perf_counter()
        headers = BytesHeaderParser().parsebytes(envelope.original_content or envelope.content)
        arrival = Arrival(now, tuple(envelope.rcpt_tos), headers["Message-ID"], headers["Subject"])
        with self.lock:
            self.arrivals.append(arrival)
        return "250 OK"

    def count(self) -> int:
        with self.lock:
            return len(self.arrivals)


@contextlib.contextmanager
def smtp_sink():
    """Yield (port, recorder) for an SMTP server on 127.0.0.1 that accepts everything."""
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, recorder
    finally:
        controller.stop()
