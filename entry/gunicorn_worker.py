"""gunicorn's gthread worker, with slow clients kept off its threads (issue 13, INP-7).

Stock gthread gives a connection a thread as soon as its first byte arrives (after waiting
up to 5 s for one, in the thread), and the thread then reads the rest of the request with
blocking reads and no deadline. Fifty clients sending a byte a second so held fifty threads
for as long as they kept it up, and every webhook behind them waited. Here:

- the worker's main loop gathers each request's head (up to its blank line) from the
  non-blocking socket, so a thread is taken only by a request whose head has arrived;
- a request must have arrived whole, head and body, `read_timeout` seconds after its first
  byte: past that the head's connection is closed, and a body read in a thread ends as if
  the client had hung up (the app answers 400).

It relies on gthread's internals as of gunicorn 27 (TConn, the poller, the parser's
SocketUnreader): pyproject.toml pins the major version.
"""

import errno
import selectors
import socket
import time
from functools import partial

from gunicorn.workers.gthread import TConn, ThreadWorker

#: How long a request may take to arrive, head and body, unless `ordertrack serve` says.
DEFAULT_READ_TIMEOUT = 10.0
#: Past this many bytes without the blank line the head goes to a thread as it is: gunicorn's
#: own limits (request line, header count and size) refuse it, the deadline still applies.
HEAD_GATHER_LIMIT = 64 * 1024
_HEAD_ENDS = (b"\r\n\r\n", b"\n\n")


class _DeadlineReader:
    """What the request parser reads through: every recv() of a request ends by `until`, and
    once it has passed the client reads as gone (b""), which gunicorn and the app already
    handle as a hang-up."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.until = 0.0

    def recv(self, size: int) -> bytes:
        remaining = self.until - time.monotonic()
        if remaining <= 0:
            return b""
        self.sock.settimeout(remaining)
        try:
            return self.sock.recv(size)
        except TimeoutError:
            return b""
        finally:
            self.sock.settimeout(None)


class HeadGatheringWorker(ThreadWorker):
    """gthread that hands a thread only requests whose head has arrived, within a deadline."""

    #: `reading_within` makes the class `ordertrack serve` runs (gunicorn builds the workers).
    read_timeout = DEFAULT_READ_TIMEOUT

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        #: Connections whose head is arriving, oldest first (so, by deadline).
        self.gathering: list[TConn] = []

    def accept(self, listener) -> None:
        if self.cfg.is_ssl:  # the head is encrypted: gthread's own way (ordertrack serves h1)
            super().accept(listener)
            return
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self._gather(TConn(self.cfg, client, address, listener.getsockname()))

    def on_client_socket_readable(self, conn, client) -> None:
        """A kept-alive connection's next request has begun: gather it like a new one."""
        if self.cfg.is_ssl:
            super().on_client_socket_readable(conn, client)
            return
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._gather(conn)

    def _gather(self, conn: TConn) -> None:
        conn.head = bytearray()
        conn.read_by = time.monotonic() + self.read_timeout
        conn.sock.setblocking(False)
        self.gathering.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_head_data, conn))

    def _on_head_data(self, conn: TConn, _sock) -> None:
        try:
            data = conn.sock.recv(HEAD_GATHER_LIMIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        searched_from = max(0, len(conn.head) - 3)
        conn.head += data
        if len(conn.head) < HEAD_GATHER_LIMIT and not any(
            conn.head.find(end, searched_from) >= 0 for end in _HEAD_ENDS
        ):
            return
        self.poller.unregister(conn.sock)
        self.gathering.remove(conn)
        try:
            conn.init()  # the parser, for a new connection; a kept-alive one has its own
        except Exception:  # a connection gthread could not set up: dropped
            self.nr_conns -= 1
            conn.close()
            return
        conn.parser.unreader.unread(bytes(conn.head))
        conn.head = None
        conn.data_ready = conn.gathered = True
        self.enqueue_req(conn)

    def handle(self, conn):
        """Every read of this request, in the thread, ends by its deadline. A request that
        did not come through `_gather` (one pipelined behind another) gets its own."""
        if not getattr(conn, "gathered", False):
            conn.read_by = time.monotonic() + self.read_timeout
        conn.gathered = False
        if conn.parser is not None:
            unreader = conn.parser.unreader
            if not isinstance(unreader.sock, _DeadlineReader):
                unreader.sock = _DeadlineReader(unreader.sock)
            unreader.sock.until = conn.read_by
        return super().handle(conn)

    def murder_pending(self) -> None:
        """Also close the connections whose head did not arrive in time (the main loop calls
        this about once a second)."""
        super().murder_pending()
        now = time.monotonic()
        while self.gathering and self.gathering[0].read_by <= now:
            self._drop(self.gathering[0])

    def _drop(self, conn: TConn) -> None:
        self.poller.unregister(conn.sock)
        self.gathering.remove(conn)
        self.nr_conns -= 1
        conn.close()


def reading_within(seconds: float) -> type[HeadGatheringWorker]:
    """The worker class with its read deadline (gunicorn builds the workers itself)."""
    if seconds <= 0:
        raise ValueError("the read timeout must be positive")
    return type(HeadGatheringWorker.__name__, (HeadGatheringWorker,), {"read_timeout": seconds})
