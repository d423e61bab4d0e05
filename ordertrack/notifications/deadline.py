"""A deadline on one whole HTTP exchange, not on each read of it.

A socket timeout bounds each read: a server that trickles its answer, a byte every few
seconds, never trips it, and would hold a worker thread for as long as it likes (matrix row
SSRF-5: a merchant's endpoint is someone else's server). Inside `within(seconds)`, every socket
the exchange's connections open in this thread is registered (`watch`, called by
ssrf._CheckedConnection); when the deadline passes, a timer shuts them down, and the read
blocked on one ends at once. A shut-down socket is never used again: the connection it
belonged to is closed by the caller, which sees a connection error and `expired` set.

A closed socket object refuses the shutdown (its descriptor is gone), so a timer that fires
after the exchange cannot touch another connection that reused the descriptor number.
"""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

__all__ = ["Watch", "watch", "within"]

_local = threading.local()


class Watch:
    """The sockets of one exchange, and whether its deadline passed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            if self.expired:
                _shut(sock)
            elif not any(known is sock for known in self._sockets):
                self._sockets.append(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        with self._lock:
            self._timer.cancel()
            self._sockets.clear()


def _shut(sock: socket.socket) -> None:
    """Shut the descriptor down under any TLS layer: a TLS socket's own shutdown would also
    drop its TLS state under the thread still reading it."""
    with suppress(OSError):  # closed already, or never connected
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


@contextmanager
def within(seconds: float) -> Iterator[Watch]:
    """Cut every connection this thread opens inside the block once `seconds` have passed."""
    current = Watch(seconds)
    outer = getattr(_local, "watch", None)
    _local.watch = current
    current.start()
    try:
        yield current
    finally:
        current.stop()
        _local.watch = outer


def watch(sock: socket.socket) -> None:
    """Put a newly opened socket under this thread's deadline, if there is one."""
    current = getattr(_local, "watch", None)
    if current is not None:
        current.add(sock)
