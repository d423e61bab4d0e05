"""Hostile input to the receiver (matrix rows INP-1 to INP-7), over real sockets to
`ordertrack serve` (gunicorn, 2 web workers of 8 threads) on SQLite: bodies too large with and
without a Content-Length, validly signed bodies no JSON parser should trust, the wrong content
type, and slow clients. Every answer is a 4xx (never 2xx, never 5xx), nothing is stored, the
web workers' memory stays put, and the other senders are answered in time throughout."""

import json
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, func, select

from entry.cli import build_parser
from ordertrack.store.migrate import upgrade
from ordertrack.store.models import Inbox
from tests.faults.support_ingest import Receiver, percentile, rss_mb, serve, service_env
from tests.support.processes import RedisServer
from tests.support.sources import shopify
from tests.support.webhooks import Request

#: A request may take this long to arrive whole (`ordertrack serve --read-timeout`), shorter
#: than the default so that the test need not wait as long.
READ_TIMEOUT = 3
TEN_MB = 10 * 2**20
MAX_BODY = 2**20  # the default MAX_BODY_BYTES


@pytest.fixture(scope="module")
def receiver(tmp_path_factory) -> Iterator[tuple[Receiver, str]]:
    """`ordertrack serve` with 8 threads a worker, fewer than the slow clients of INP-7."""
    folder = tmp_path_factory.mktemp("input")
    scratch = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=scratch) as memory:
        database_url = f"sqlite:///{Path(memory) / 'ordertrack.db'}"
        upgrade(database_url)
        redis = RedisServer(folder).start()
        env = service_env(folder, DATABASE_URL=database_url, REDIS_URL=redis.url)
        try:
            web = serve(env, folder, threads=8, read_timeout=str(READ_TIMEOUT))
            yield web, database_url
            web.process.kill()
        finally:
            redis.stop()


def _stored(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(Inbox)).scalar_one()
    finally:
        engine.dispose()


def _head(request: Request, **headers: str) -> bytes:
    lines = [f"POST {request.path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in {**request.headers, **headers}.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _status(reply: bytes) -> int | None:
    """The status code of a raw HTTP answer, None when none came."""
    first = reply.split(b"\r\n", 1)[0].split()
    return int(first[1]) if len(first) > 1 and first[1].isdigit() else None


def _send_until_answered(url: str, head: bytes, chunks: Iterator[bytes]) -> tuple[bytes, float]:
    """Send the head, then body chunks until the server answers (or stops reading): the
    answer and the seconds from the head's last byte to the answer's first."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)
        started = time.monotonic()
        sock.setblocking(False)
        reply = b""
        for chunk in chunks:
            with suppress(BlockingIOError):
                reply += sock.recv(65536)
            if reply:
                break
            try:
                sock.sendall(chunk)
            except BlockingIOError:  # its buffers are full: the server has stopped reading
                break
            except OSError:  # it closed the connection: its answer is waiting to be read
                break
        answered = time.monotonic() - started
        sock.setblocking(True)
        sock.settimeout(10)
        while not _complete(reply):
            try:
                data = sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            reply += data
        return reply, answered


def _complete(reply: bytes) -> bool:
    """The whole answer is in: its head, and as much body as its Content-Length says."""
    head, found, body = reply.partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return True


def _web_rss(web: Receiver) -> dict[int, float]:
    return {pid: rss_mb(pid) for pid in web.worker_pids()}


def _growth(before: dict[int, float], web: Receiver) -> float:
    after = _web_rss(web)
    return max(after[pid] - mb for pid, mb in before.items())


# -- INP-1, INP-2: too large ------------------------------------------------------------------


@pytest.mark.fault("INP-1")
def test_ten_megabytes_with_a_content_length_is_refused_413_at_once_unread(receiver, figures):
    web, database_url = receiver
    request = shopify.request("orders_create", webhook_id="inp1")
    before = _web_rss(web)
    head = _head(request, **{"Content-Length": str(TEN_MB)})
    chunks = (b" " * 65536 for _ in range(TEN_MB // 65536))
    reply, seconds = _send_until_answered(web.url, head, chunks)

    assert _status(reply) == 413, reply[:300]
    assert seconds < 1, f"413 after {seconds:.2f} s"
    growth = _growth(before, web)
    assert growth < 20, f"a web worker grew {growth:.1f} MB"
    assert _stored(database_url) == 0
    figures.add("answer", f"413 in {seconds * 1000:.0f} ms, RSS +{growth:.1f} MB, 0 rows")


@pytest.mark.fault("INP-2")
def test_ten_megabytes_chunked_without_a_length_is_refused_never_2xx_or_500(receiver, figures):
    web, database_url = receiver
    request = shopify.request("orders_create", webhook_id="inp2")
    before = _web_rss(web)
    head = _head(request, **{"Transfer-Encoding": "chunked"})
    chunk = b"10000\r\n" + b" " * 65536 + b"\r\n"
    reply, seconds = _send_until_answered(web.url, head, (chunk for _ in range(TEN_MB // 65536)))

    assert _status(reply) in (400, 413), reply[:300]
    assert b"limit" in reply, reply[:300]
    growth = _growth(before, web)
    assert growth < 20, f"a web worker grew {growth:.1f} MB"
    assert _stored(database_url) == 0
    figures.add(
        "answer", f"{_status(reply)} in {seconds * 1000:.0f} ms, RSS +{growth:.1f} MB, 0 rows"
    )


# -- INP-3 to INP-6: bodies no parser should trust --------------------------------------------


def _signed(body: bytes, key: str, **headers: str) -> Request:
    """`body` as a Shopify orders/create, validly signed: only the parser can refuse it."""
    request = shopify.request("orders_create", body, webhook_id=key)
    return replace(request, headers={**request.headers, **headers})


def _post(web: Receiver, request: Request) -> requests.Response:
    return requests.post(
        web.url + request.path, data=request.body, headers=request.headers, timeout=10
    )


def _refused(web: Receiver, database_url: str, cases: dict[str, Request]) -> dict[str, int]:
    """Post each case; the status of each. None may be 2xx or 5xx, none may be stored."""
    answers = {}
    for name, request in cases.items():
        response = _post(web, request)
        where = f"{name}: {response.status_code} {response.text[:200]}"
        assert 400 <= response.status_code < 500, where
        assert response.json()["error"], where
        answers[name] = response.status_code
    assert _stored(database_url) == 0
    return answers


@pytest.mark.fault("INP-3")
def test_invalid_utf8_validly_signed_is_refused_400(receiver, figures):
    web, database_url = receiver
    answers = _refused(web, database_url, {"invalid UTF-8": _signed(b'{"a":"\xff"}', "inp3")})
    assert answers == {"invalid UTF-8": 400}
    figures.add("answer", "400, 0 rows")


@pytest.mark.fault("INP-4")
def test_json_nested_a_thousand_and_a_hundred_thousand_deep_is_refused_400(receiver, figures):
    web, database_url = receiver
    before = _web_rss(web)
    cases = {
        "1000 deep (2 KB)": _signed(b"[" * 1000 + b"]" * 1000, "inp4-1"),
        "100000 deep (200 KB)": _signed(b"[" * 100_000 + b"]" * 100_000, "inp4-2"),
        "100000 objects deep": _signed(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "inp4-3"),
    }
    for _ in range(5):  # again and again: memory must not creep up with each
        answers = _refused(web, database_url, cases)
    growth = _growth(before, web)
    assert set(answers.values()) == {400}, answers
    assert growth < 20, f"a web worker grew {growth:.1f} MB"
    figures.add("answers", f"400 for each, 15 bombs, RSS +{growth:.1f} MB")


@pytest.mark.fault("INP-5")
def test_huge_integers_nan_infinity_and_duplicate_keys_are_refused_400(receiver, figures):
    web, database_url = receiver
    cases = {
        "5000-digit integer": _signed(b'{"id": ' + b"7" * 5000 + b"}", "inp5-1"),
        "NaN": _signed(b'{"id": NaN}', "inp5-2"),
        "Infinity": _signed(b'{"id": Infinity}', "inp5-3"),
        "-Infinity": _signed(b'{"id": -Infinity}', "inp5-4"),
        "duplicate keys": _signed(b'{"id":1,"id":2}', "inp5-5"),
    }
    answers = _refused(web, database_url, cases)
    assert set(answers.values()) == {400}, answers
    figures.add("answers", "400 for each of 5")


@pytest.mark.fault("INP-6")
def test_the_wrong_content_type_is_refused_415_and_an_empty_body_400(receiver, figures):
    web, database_url = receiver
    order = json.dumps({"id": 1}).encode()
    cases = {
        "text/plain": _signed(order, "inp6-1", **{"Content-Type": "text/plain"}),
        "form": _signed(order, "inp6-2", **{"Content-Type": "application/x-www-form-urlencoded"}),
        "empty body": _signed(b"", "inp6-3"),
    }
    answers = _refused(web, database_url, cases)
    assert answers == {"text/plain": 415, "form": 415, "empty body": 400}, answers
    figures.add("answers", "text/plain 415, form 415, 0 bytes 400")


# -- INP-7: slow clients ----------------------------------------------------------------------

#: Heads that never end: more than both workers' threads together, and none takes a thread.
SLOW_HEADS = 40
#: Bodies sent a byte a second. A body is read in a thread (until the read timeout cuts it),
#: so these stay fewer than one worker's threads: however the kernel deals them out, each
#: worker keeps a thread free. More slow bodies than threads would hold the webhooks behind
#: them for up to the read timeout (a reverse proxy that buffers bodies, such as nginx, would
#: not): a known limit, in docs/faults.md.
SLOW_BODIES = 6


class Slowloris:
    """Connections that each send one byte a second: most of them a request head that never
    ends, the rest a whole head, then a body at the same pace. Records when the server closed
    each one (or answered it)."""

    def __init__(self, url: str, request: Request) -> None:
        host, port = url.removeprefix("http://").split(":")
        head = _head(request, **{"Content-Length": str(len(request.body))})
        self.streams: list[tuple[socket.socket, bytes]] = []
        for n in range(SLOW_HEADS + SLOW_BODIES):
            sock = socket.create_connection((host, int(port)), timeout=5)
            sock.setblocking(False)
            if n < SLOW_HEADS:  # the head, its blank line never reached
                self.streams.append((sock, head[:-2] + b"X-Pad: " + b"a" * 10_000))
            else:
                sock.sendall(head)
                self.streams.append((sock, request.body))
        self.opened = time.monotonic()
        self.closed: dict[int, float] = {}
        self.answers: dict[int, int | None] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._dribble, daemon=True)
        self.thread.start()

    def _dribble(self) -> None:
        position = 0
        while not self.stop.is_set() and len(self.closed) < len(self.streams):
            for n, (sock, data) in enumerate(self.streams):
                if n in self.closed:
                    continue
                try:
                    reply = sock.recv(4096)
                except BlockingIOError:
                    reply = None
                except OSError:
                    reply = b""
                if reply is not None:  # an answer, or the connection closed
                    self.answers[n] = _status(reply)
                    self.closed[n] = time.monotonic() - self.opened
                    continue
                try:
                    sock.send(data[position : position + 1])
                except OSError:
                    self.answers[n] = None
                    self.closed[n] = time.monotonic() - self.opened
            position += 1
            self.stop.wait(1.0)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for sock, _ in self.streams:
            sock.close()


@pytest.mark.fault("INP-7")
def test_slow_clients_hold_no_thread_and_are_cut_off_while_others_are_answered_in_time(
    receiver, figures
):
    web, database_url = receiver
    slow = Slowloris(web.url, shopify.request("orders_create", webhook_id="inp7-slow"))
    latencies: list[float] = []
    statuses: list[int] = []
    try:
        sent = 0
        while time.monotonic() - slow.opened < READ_TIMEOUT + 1:
            sent += 1
            request = shopify.request("orders_create", webhook_id=f"inp7-{sent}")
            started = time.monotonic()
            statuses.append(_post(web, request).status_code)
            latencies.append(time.monotonic() - started)
            time.sleep(0.05)
        deadline = READ_TIMEOUT + 5
        while len(slow.closed) < len(slow.streams) and time.monotonic() - slow.opened < deadline:
            time.sleep(0.2)
    finally:
        slow.close()

    assert set(statuses) == {202}, statuses
    p99 = percentile(latencies, 99)
    assert p99 <= 1.0, f"the other senders' p99 was {p99:.2f} s"
    assert len(slow.closed) == len(slow.streams), "some slow connections were never closed"
    latest = max(slow.closed.values())
    assert latest <= READ_TIMEOUT + 3, f"a slow connection stayed open {latest:.1f} s"
    bodies = [slow.answers[n] for n in range(SLOW_HEADS, SLOW_HEADS + SLOW_BODIES)]
    assert set(bodies) <= {400, None}, bodies
    assert _stored(database_url) == len(statuses), "only the others' webhooks are stored"
    default = build_parser().parse_args(["serve"]).read_timeout
    assert default <= 30, "the production read timeout lets a slow client stay over 30 s"
    figures.add("slow clients", f"{SLOW_HEADS} slow heads + {SLOW_BODIES} slow bodies, 1 byte/s")
    figures.add("others", f"{len(latencies)} webhooks, p99 {p99 * 1000:.0f} ms")
    figures.add("slow ones closed after", f"{latest:.1f} s (--read-timeout {READ_TIMEOUT})")
