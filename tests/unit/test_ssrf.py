"""The SSRF guard: which URLs are refused, and that the refusal holds where it counts, at the
socket. Real sockets on 127.0.0.1; a stub resolver (socket.getaddrinfo, the standard
library's, never ours) plays DNS answers no machine gives reliably: a name with a private
address, and a name that changes its answer between the check and the connect (rebinding)."""

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from ordertrack.notifications.ssrf import RefusedUrl, check_url, guarded_session

PUBLIC_IP = "93.184.215.14"  # a public address, never connected to here


# -- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def canary() -> Iterator[socket.socket]:
    """A listener on 127.0.0.1 that nothing should reach. A connection completes in the
    kernel's backlog even unaccepted, so an empty backlog proves none was made."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    yield listener
    listener.close()


def connections_to(listener: socket.socket) -> int:
    count = 0
    while True:
        try:
            listener.accept()[0].close()
        except BlockingIOError:
            return count
        count += 1


class _Recorder(BaseHTTPRequestHandler):
    hosts: list[str]

    def do_GET(self) -> None:
        self.hosts.append(self.headers["Host"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    """A real HTTP server on 127.0.0.1 that records each request's Host header."""
    handler = type("Recorder", (_Recorder,), {"hosts": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def resolver(monkeypatch):
    """A stub DNS: names given answers (one list per lookup, the last repeating); every other
    name, and address literals, go to the real resolver. Records each lookup of a stub name."""
    real = socket.getaddrinfo
    answers: dict[str, list[list[str]]] = {}
    lookups: list[str] = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host not in answers:
            return real(host, port, family, type, proto, flags)
        lookups.append(host)
        queue = answers[host]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [_addrinfo(address, port) for address in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, lookups


def _addrinfo(address: str, port: int):
    if ":" in address:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))


def refusal(url: str) -> RefusedUrl:
    with pytest.raises(RefusedUrl) as caught:
        check_url(url, allow_private=False)
    return caught.value


# -- check_url -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://127.200.1.1:8080/hook", "loopback"),
        ("http://10.0.0.1/", "private"),
        ("http://172.16.5.4/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://100.64.0.1/", "not globally reachable"),  # carrier-grade NAT
        ("http://224.0.0.1/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://255.255.255.255/", "reserved"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::1]/", "loopback"),
        ("http://[::]/", "unspecified"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[fc00::1]/", "private"),
        ("http://[fd00:ec2::254]/", "private"),  # AWS's IPv6 metadata endpoint
        ("http://[fec0::1]/", "site-local"),
        ("http://[ff02::1]/", "multicast"),
        ("http://[::ffff:127.0.0.1]/", "loopback, inside an IPv6 address"),
        ("http://[::ffff:7f00:1]/", "loopback, inside an IPv6 address"),
        ("http://[::ffff:169.254.169.254]/", "link-local, inside an IPv6 address"),
        ("http://[2002:7f00:1::]/", "loopback, inside an IPv6 address"),  # 6to4
        ("http://[64:ff9b::a00:1]/", "private, inside an IPv6 address"),  # NAT64 of 10.0.0.1
        ("http://[64:ff9b:1::a00:1]/", "reserved"),  # local-use NAT64
        ("https://[::7f00:1]/", "reserved"),  # IPv4-compatible, deprecated
    ],
)
def test_internal_addresses_are_refused_with_their_reason(url, reason):
    refused = refusal(url)
    assert refused.internal
    assert f"({reason})" in str(refused)


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "0177.0.0.1", "127.1", "0", "0x7f000001"])
def test_other_spellings_of_loopback_are_refused_as_what_they_resolve_to(host):
    """The resolver that connects reads these as 127.0.0.1 or 0.0.0.0; so does the check."""
    refused = refusal(f"http://{host}:8080/")
    assert refused.internal
    assert "resolves to 127.0.0.1" in str(refused) or "resolves to 0.0.0.0" in str(refused)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/",
        "http://LOCALHOST:5000/",
        "http://localhost./",
        "http://localhost../",
        "https://shop.localhost/hook",
        "http://user:pw@localhost/",
        "http://93.184.215.14@localhost/",  # userinfo naming a public address
    ],
)
def test_localhost_names_are_refused_however_spelt(url):
    refused = refusal(url)
    assert refused.internal
    assert "loopback name" in str(refused)


@pytest.mark.parametrize(
    "url",
    [
        f"https://{PUBLIC_IP}/hooks/ordertrack",
        f"http://{PUBLIC_IP}:8443/",
        "https://[2606:2800:220:1:248:1893:25c8:1946]/",
        "https://[64:ff9b::5db8:d70e]/",  # NAT64 of a public address: DNS64 networks
        f"https://[::ffff:{PUBLIC_IP}]/",
    ],
)
def test_public_addresses_pass(url):
    check_url(url, allow_private=False)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://93.184.215.14/",
        "file:///etc/passwd",
        "gopher://93.184.215.14:70/",
        "http:///hook",
        "http://shop..example/",  # an empty label
        f"https://{'a' * 64}.example/",  # a label over 63 characters
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
def test_only_http_and_https_urls_with_a_valid_host_are_called(url, allow_private):
    with pytest.raises(RefusedUrl) as caught:
        check_url(url, allow_private=allow_private)
    assert not caught.value.internal  # no setting makes these acceptable


def test_a_name_with_one_private_address_among_public_ones_is_refused(resolver):
    answers, _ = resolver
    answers["shop.example"] = [[PUBLIC_IP, "10.1.2.3"]]
    refused = refusal("https://shop.example/hook")
    assert "shop.example resolves to 10.1.2.3 (private)" in str(refused)


def test_a_name_resolving_to_loopback_is_refused(resolver):
    answers, _ = resolver
    answers["evil.test"] = [["127.0.0.1"]]
    assert "evil.test resolves to 127.0.0.1 (loopback)" in str(refusal("http://evil.test/"))


def test_a_name_with_only_public_addresses_passes(resolver):
    answers, _ = resolver
    answers["shop.example"] = [[PUBLIC_IP, "2606:2800:220:1:248:1893:25c8:1946"]]
    check_url("https://shop.example/hook", allow_private=False)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/", "http://localhost/", "http://[::1]/", "http://10.0.0.1/"]
)
def test_allow_private_lets_internal_addresses_through(url):
    check_url(url, allow_private=True)


def test_a_name_that_does_not_resolve_is_an_os_error_not_a_refusal():
    """DNS may answer later; a refusal would be final."""
    with pytest.raises(OSError) as caught:
        check_url("https://merchant.invalid/hook", allow_private=False)
    assert not isinstance(caught.value, RefusedUrl)


# -- the session: the check at connect time ----------------------------------------------------


def test_guarded_session_refuses_an_internal_address_without_connecting(canary):
    port = canary.getsockname()[1]
    with guarded_session() as session, pytest.raises(RefusedUrl):
        session.get(f"http://127.0.0.1:{port}/", timeout=2)
    assert connections_to(canary) == 0


def test_a_rebinding_name_is_refused_at_connect_time(resolver, canary):
    """Public when checked, 127.0.0.1 a moment later: the connection checks its own answer."""
    answers, lookups = resolver
    answers["rebind.test"] = [[PUBLIC_IP], ["127.0.0.1"]]
    url = f"http://rebind.test:{canary.getsockname()[1]}/"
    check_url(url, allow_private=False)  # the first answer passes
    with guarded_session() as session, pytest.raises(RefusedUrl) as caught:
        session.get(url, timeout=2)
    assert "rebind.test resolves to 127.0.0.1 (loopback)" in str(caught.value)
    assert lookups == ["rebind.test", "rebind.test"]
    assert connections_to(canary) == 0


def test_a_connection_goes_to_the_address_it_resolved_and_keeps_the_host_name(resolver, server):
    """One lookup per connection, then a connect to that very answer (a second lookup would
    have said 192.0.2.1, where nothing answers); Host still names the URL's host."""
    answers, lookups = resolver
    answers["pinned.test"] = [["127.0.0.1"], ["192.0.2.1"]]
    port = server.server_address[1]
    with guarded_session(allow_private=True) as session:
        response = session.get(f"http://pinned.test:{port}/", timeout=5)
    assert response.status_code == 204
    assert lookups == ["pinned.test"]
    assert server.RequestHandlerClass.hosts == [f"pinned.test:{port}"]


def test_environment_proxies_are_ignored(server, monkeypatch):
    """A proxy would connect in our place, to wherever the URL says, unchecked."""
    monkeypatch.setenv("HTTP_PROXY", "http://10.9.9.9:3128")
    monkeypatch.setenv("http_proxy", "http://10.9.9.9:3128")
    port = server.server_address[1]
    with guarded_session(allow_private=True) as session:
        assert session.get(f"http://localhost:{port}/", timeout=5).status_code == 204


def test_an_explicit_proxy_is_refused():
    with guarded_session() as session, pytest.raises(RefusedUrl) as caught:
        session.get(f"http://{PUBLIC_IP}/", proxies={"http": "http://10.9.9.9:3128"}, timeout=2)
    assert "proxy" in str(caught.value)


# -- TLS: the certificate is checked against the URL's name, not the address dialled -----------


@pytest.fixture
def tls_server(tmp_path) -> Iterator[tuple[int, str]]:
    """HTTPS on 127.0.0.1 with a self-signed certificate for the name `localhost` only."""
    # openssl is part of every Debian image this project runs on: a missing one is a failure.
    assert shutil.which("openssl"), "openssl is needed to make the test certificate"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    handler = type("Recorder", (_Recorder,), {"hosts": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1], str(cert)
    httpd.shutdown()
    httpd.server_close()


def test_tls_verifies_the_certificate_against_the_url_host(tls_server):
    port, cert = tls_server
    with guarded_session(allow_private=True) as session:
        response = session.get(f"https://localhost:{port}/", verify=cert, timeout=5)
    assert response.status_code == 204


def test_tls_still_refuses_a_certificate_for_another_name(tls_server):
    """The same server by its address: the certificate names only `localhost`, so this must
    fail, which shows the test above really checked the name."""
    port, cert = tls_server
    with (
        guarded_session(allow_private=True) as session,
        pytest.raises(requests.exceptions.SSLError),
    ):
        session.get(f"https://127.0.0.1:{port}/", verify=cert, timeout=5)
