"""Matrix rows SSRF-1 to SSRF-5: the merchant's webhook URL must not reach into our own network,
nor let the merchant's server hold a worker (docs/reliability.md, "Outgoing webhooks (SSRF)").
ALLOW_PRIVATE_WEBHOOK_URLS is off throughout (base_env clears it).

Real sockets: a canary listener on 127.0.0.1 and [::1] that no request may reach (a connection
completes in the kernel's backlog even unaccepted, so an empty backlog proves none was made),
and a merchant endpoint on 127.0.0.1 that answers as each row needs. DNS is a stub resolver
(socket.getaddrinfo, the operating system's call, never ours): names get the answers a test
gives them, and a public address can be routed to the local endpoint, as a NAT would, so the
guard sees a public address and the packets still arrive here."""

import base64
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from ordertrack.notifications import merchant_webhook as mw
from ordertrack.notifications.errors import DeliveryError
from ordertrack.notifications.ssrf import RefusedUrl, guarded_session
from ordertrack.settings import Settings
from ordertrack.store.models import Outbox
from tests.support.channel_faults import emptied, module_database, running
from tests.support.processes import wait_for
from tests.support.webhooks import shopify
from workers.runtime import build_runtime

SECRET = "whsec_" + base64.b64encode(b"m" * 32).decode()
MSG_ID = "msg_ordertrack_1_1767225600"
BODY = b'{"type":"order.received","timestamp":"2026-01-01T00:00:00Z","data":{}}'
#: A public address (documentation-adjacent, never really dialled: routed to 127.0.0.1).
PUBLIC_IP = "93.184.215.14"


# -- the network -------------------------------------------------------------------------------


@dataclass
class Canary:
    """Listeners on one port of 127.0.0.1 and ::1 that nothing may reach."""

    port: int
    listeners: list[socket.socket]

    def connections(self) -> int:
        count = 0
        for listener in self.listeners:
            while True:
                try:
                    listener.accept()[0].close()
                except BlockingIOError:
                    break
                count += 1
        return count


@pytest.fixture
def canary() -> Iterator[Canary]:
    v4 = socket.create_server(("127.0.0.1", 0), backlog=64)
    port = v4.getsockname()[1]
    v6 = socket.create_server(("::1", port), family=socket.AF_INET6, backlog=64)
    for listener in (v4, v6):
        listener.setblocking(False)
    yield Canary(port, [v4, v6])
    for listener in (v4, v6):
        listener.close()


@dataclass
class Network:
    #: name -> answers, one list per lookup (the last repeating).
    names: dict[str, list[list[str]]] = field(default_factory=dict)
    #: address -> where packets for it really go (a NAT in front of the local endpoint).
    routes: dict[str, str] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)


@pytest.fixture
def network(monkeypatch) -> Network:
    """The stub resolver; names and addresses it is not told of go to the real one."""
    real = socket.getaddrinfo
    stub = Network()

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if flags & socket.AI_NUMERICHOST:  # literals only, no DNS: the real call is exact
            return real(host, port, family, type, proto, flags)
        if host in stub.names:
            stub.lookups.append(host)
            queue = stub.names[host]
            answers = queue.pop(0) if len(queue) > 1 else queue[0]
        elif host in stub.routes:
            answers = [stub.routes[host]]  # the connect's own look-up of a checked address
        else:
            return real(host, port, family, type, proto, flags)
        return [_addrinfo(address, port) for address in answers]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return stub


def _addrinfo(address: str, port: int):
    if ":" in address:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))


class Endpoint:
    """The merchant's endpoint on 127.0.0.1: reads each request, then answers as `mode` says.
    Counts requests, and the bytes it wrote before the client hung up."""

    def __init__(self, mode: str, location: str = "") -> None:
        self.mode, self.location = mode, location
        self.requests: list[bytes] = []
        self.written = 0
        self.hung_up: float | None = None
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self._server.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:  # closed
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            self.requests.append(_read_request(conn))
            try:
                getattr(self, f"_{self.mode}")(conn)
            except OSError:  # the client hung up: what a cut looks like from here
                self.hung_up = time.monotonic()

    def _redirect(self, conn: socket.socket) -> None:
        conn.sendall(
            f"HTTP/1.1 302 Found\r\nLocation: {self.location}\r\nContent-Length: 0\r\n\r\n".encode()
        )

    def _huge(self, conn: socket.socket) -> None:
        """200 with a 1 GB body, written as fast as the client takes it."""
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
        chunk = b"x" * 65536
        while self.written < 1 << 30 and not self._stop.is_set():
            conn.sendall(chunk)
            self.written += len(chunk)

    def _trickled_body(self, conn: socket.socket) -> None:
        """200 at once, then 64 KB, then a byte a second: a reader would wait for ever."""
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 65536)
        while not self._stop.wait(1.0):
            conn.sendall(b"x")

    def _trickled_head(self, conn: socket.socket) -> None:
        """The status line and endless headers, a few bytes every 100 ms: each read gets
        something, so no read timeout ever fires."""
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        while not self._stop.wait(0.1):
            conn.sendall(b"X-Slow: 1\r\n")

    def _silent(self, conn: socket.socket) -> None:
        self._stop.wait(120)
        conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n")

    def close(self) -> None:
        self._stop.set()
        self._server.close()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536) or b"\r\n\r\n"
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next((int(line[15:]) for line in lines if line.startswith(b"content-length:")), 0)
    while len(body) < length:
        body += conn.recv(65536) or b"x" * length
    return head + b"\r\n\r\n" + body


@pytest.fixture
def endpoints() -> Iterator[list[Endpoint]]:
    made: list[Endpoint] = []
    yield made
    for endpoint in made:
        endpoint.close()


@pytest.fixture
def merchant(network, endpoints):
    """An endpoint answering as `mode`, as the guard sees it: http://merchant.test:<port>/,
    the name resolving to a public address that is routed here."""

    def _merchant(mode: str, location: str = "") -> tuple[Endpoint, str]:
        endpoint = Endpoint(mode, location)
        endpoints.append(endpoint)
        network.names["merchant.test"] = [[PUBLIC_IP]]
        network.routes[PUBLIC_IP] = "127.0.0.1"
        return endpoint, f"http://merchant.test:{endpoint.port}/hooks/ordertrack"

    return _merchant


# -- the service -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def database():
    with module_database() as url:
        yield url


@pytest.fixture
def merchant_service(database, base_env, monkeypatch):
    """The service sending the merchant's events to `url` (ALLOW_PRIVATE_WEBHOOK_URLS off)."""
    with ExitStack() as stack:

        def _start(url: str):
            env = {"MERCHANT_WEBHOOK_URL": url, "MERCHANT_WEBHOOK_SECRET": SECRET}
            return stack.enter_context(running(monkeypatch, emptied(database), **env))

        yield _start


def _an_order_arrives(service) -> dict:
    """The order is created: the merchant's one event is tried; its row after the attempt."""
    assert service.post(shopify("orders_create")).status_code == 202

    def attempted():
        with service.runtime.sessions() as session:
            rows = session.scalars(select(Outbox).where(Outbox.channel == "merchant_webhook"))
            done = [row for row in rows if row.attempts and row.status != "sending"]
        return done

    [row] = wait_for(attempted, timeout=20, what="the merchant's event to be tried")
    return {"status": row.status, "attempts": row.attempts, "reason": row.last_error}


# -- SSRF-1 --------------------------------------------------------------------------------------

#: (URL with the canary's port as {port}, whether a connection to it would reach the canary).
LITERALS = [
    ("http://127.0.0.1:{port}/hook", True),
    ("http://10.0.0.1/hook", False),
    ("http://169.254.169.254/latest/meta-data", False),
    ("http://[::1]:{port}/hook", True),
    ("http://[::ffff:127.0.0.1]:{port}/hook", True),
    ("http://0.0.0.0:{port}/hook", True),
    ("http://2130706433:{port}/", True),
    ("http://0x7f.1:{port}/", True),
]


@pytest.mark.fault("SSRF-1")
@pytest.mark.parametrize(("template", "reaches_canary"), LITERALS)
def test_an_internal_address_is_refused_when_configured_and_when_sent_without_a_connection(
    canary, base_env, monkeypatch, tmp_path, figures, template, reaches_canary
):
    url = template.format(port=canary.port)
    host = url.split("//")[1].split("/")[0].rsplit(":", 1)[0].strip("[]")
    if reaches_canary:  # the control: the canary does see a connection to this address
        socket.create_connection((host, canary.port), timeout=5).close()
        assert canary.connections() == 1

    # Configured: start-up stops, naming the setting.
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'unused.db'}")
    monkeypatch.setenv("MERCHANT_WEBHOOK_URL", url)
    monkeypatch.setenv("MERCHANT_WEBHOOK_SECRET", SECRET)
    with pytest.raises(ValueError, match="MERCHANT_WEBHOOK_URL is refused") as at_start:
        build_runtime(Settings.from_env())
    assert "ALLOW_PRIVATE_WEBHOOK_URLS" in str(at_start.value)

    # At send, were it ever given one (send() is the channel's, and the alerts'): refused.
    with pytest.raises(DeliveryError) as at_send:
        mw.send(mw.MerchantWebhookConfig(url=url, secret=SECRET), MSG_ID, BODY)
    assert at_send.value.permanent
    assert "ALLOW_PRIVATE_WEBHOOK_URLS" in at_send.value.reason
    # And the connection's own check, without the URL check before it.
    with guarded_session() as session, pytest.raises(RefusedUrl):
        session.post(url, data=BODY, timeout=2)

    assert canary.connections() == 0
    figures.add(host, "refused at start-up and at send, 0 connections")


# -- SSRF-2 and SSRF-3: through the service --------------------------------------------------------


@pytest.mark.fault("SSRF-2")
def test_a_name_resolving_to_loopback_is_refused_for_good_without_a_connection(
    merchant_service, network, canary, figures
):
    network.names["evil.test"] = [["127.0.0.1"]]
    url = f"http://evil.test:{canary.port}/hook"
    service = merchant_service(url)  # a name: not looked up at start-up

    row = _an_order_arrives(service)

    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "evil.test resolves to 127.0.0.1 (loopback)" in row["reason"]
    # The connect-time check alone refuses it too.
    with guarded_session() as session, pytest.raises(RefusedUrl):
        session.post(url, data=BODY, timeout=2)
    assert canary.connections() == 0
    figures.add("outcome", "failed after 1 attempt, 0 canary connections")


@pytest.mark.fault("SSRF-3")
def test_a_name_rebinding_to_loopback_after_the_check_is_refused_when_connecting(
    merchant_service, network, canary, figures
):
    network.names["rebind.test"] = [[PUBLIC_IP], ["127.0.0.1"]]
    service = merchant_service(f"http://rebind.test:{canary.port}/hook")

    row = _an_order_arrives(service)

    assert network.lookups == ["rebind.test", "rebind.test"], "checked, then connected"
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "rebind.test resolves to 127.0.0.1 (loopback)" in row["reason"]
    assert canary.connections() == 0
    figures.add("outcome", "public at the check, loopback at connect: refused, 0 connections")


# -- SSRF-4 ----------------------------------------------------------------------------------------


@pytest.mark.fault("SSRF-4")
def test_a_redirect_to_an_internal_address_is_a_failure_and_is_not_followed(
    merchant_service, merchant, canary, figures
):
    endpoint, url = merchant("redirect", location=f"http://127.0.0.1:{canary.port}/latest")
    service = merchant_service(url)

    row = _an_order_arrives(service)

    [request] = endpoint.requests  # the endpoint was reached, once, with a signed event
    head, _, body = request.partition(b"\r\n\r\n")
    headers = dict(
        line.decode().split(": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line
    )
    Webhook(SECRET).verify(body, headers)
    assert row["status"] == "pending", "a failure, retried later by the schedule"
    assert "answered 302" in row["reason"] and "redirects are not followed" in row["reason"]
    assert canary.connections() == 0
    figures.add("outcome", "302 recorded as a failure, 0 canary connections")


# -- SSRF-5 ----------------------------------------------------------------------------------------


def _rss_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def _send(url: str, timeout: float = 15.0) -> float:
    started = time.monotonic()
    mw.send(mw.MerchantWebhookConfig(url=url, secret=SECRET, timeout=timeout), MSG_ID, BODY)
    return time.monotonic() - started


@pytest.mark.fault("SSRF-5")
def test_a_huge_or_endless_answer_is_not_read(merchant, figures):
    huge, huge_url = merchant("huge")
    trickled, trickled_url = merchant("trickled_body")
    rss = _rss_kb()

    took = [_send(huge_url), _send(trickled_url)]

    grown_mb = (_rss_kb() - rss) / 1024
    assert max(took) < 10, "the status is all that is read; the body never is"
    wait_for(lambda: huge.hung_up, timeout=10, what="the client to hang up on the 1 GB body")
    assert huge.written < 64 << 20, "cut long before 1 GB: only what the socket buffers held"
    assert trickled.requests and grown_mb < 20
    written = f"{huge.written >> 20} MB written before the hang-up"
    figures.add("1 GB body", f"done in {took[0] * 1000:.0f} ms, {written}")
    figures.add("trickled body", f"done in {took[1] * 1000:.0f} ms")
    figures.add("RSS growth", f"{grown_mb:.1f} MB")


@pytest.mark.fault("SSRF-5")
@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("silent", "did not answer within 0.5 s"),
        ("trickled_head", "did not finish answering within 1 s"),
    ],
)
def test_a_slow_answer_is_cut_at_the_deadline(merchant, figures, mode, reason):
    """The production limit is 30 s (15 s to connect, 15 s to answer); the same code with a
    0.5 s timeout cuts at 1 s. A trickled answer never trips a read timeout: the deadline
    on the whole exchange does."""
    assert mw.MerchantWebhookConfig(url="https://x.example/", secret=SECRET).deadline == 30
    endpoint, url = merchant(mode)

    started = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        _send(url, timeout=0.5)
    took = time.monotonic() - started

    assert not caught.value.permanent
    assert reason in caught.value.reason
    assert 0.4 < took < 5, f"cut after {took:.2f} s"
    assert endpoint.requests
    figures.add(f"{mode} answer", f"cut after {took:.2f} s (limit 1 s; 30 s in production)")
