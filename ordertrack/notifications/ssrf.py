"""Keep outgoing webhooks out of our own network (SSRF): no request to a loopback, private,
link-local or otherwise internal address unless a setting says this network is trusted.

Two layers, because a check on the URL alone is not enough:

- `check_url` refuses early and clearly: a scheme other than http(s), a `localhost` name, or
  a host any of whose addresses is internal. `check_configured_url` is its part that needs
  no DNS, for start-up: an address literal in any spelling is refused before anything runs.
- `guarded_session` is what actually connects. Its connections resolve the host themselves,
  refuse if any address is internal, and connect to the address just checked. A name that
  answers a public address to `check_url` and 127.0.0.1 a moment later (DNS rebinding) is
  refused at connect time, as Svix's resolver filter and Convoy's dial hook do
  (docs/reliability.md, "Outgoing webhooks (SSRF)"). Each new connection is checked, so a
  reused pool cannot go stale either. Each also puts its socket under the caller's
  `deadline.within`, if any.

Limits: this trusts urllib3 2.x's `_dns_host` (the name it resolves, kept apart from the
name TLS verifies and the Host header names); tests exercise it with real sockets, so an
upgrade that changes it fails loudly. No proxy may be used (a proxy would connect in our
place, unchecked); an egress proxy such as smokescreen, which Standard Webhooks recommends,
is a deployment's extra layer and would need this guard off for the proxy's own address.
Ports are not restricted.
"""

import ipaddress
import socket
from contextlib import suppress
from functools import cache
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import parse_url
from urllib3.util.connection import allowed_gai_family

from ordertrack.notifications import deadline

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
#: Well-known NAT64 (RFC 6052): the last 32 bits are an IPv4 address, judged as such, so an
#: IPv6-only network reaching a public merchant through DNS64 still works.
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class RefusedUrl(ValueError):
    """An outgoing URL we will not call. `internal` is True when it was refused for pointing
    into a private network, which a setting for trusted networks can allow."""

    def __init__(self, reason: str, *, internal: bool) -> None:
        super().__init__(reason)
        self.internal = internal


def internal_reason(address: IPAddress) -> str | None:
    """Why an address is not on the public internet ("loopback", "private", ...), or None."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = internal_reason(embedded)
            return f"{reason}, inside an IPv6 address" if reason else None
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
        # Whatever else IANA marks as not globally reachable: CGNAT 100.64/10, 192.0.0/24.
        ("not globally reachable", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, 6to4 or NAT64 address: where the packets go."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def resolve(host: str, port: int, *, numeric_only: bool = False) -> list[str]:
    """The host's addresses, as the connection would look them up (urllib3's own call).
    `numeric_only`: only an address literal, in any spelling the resolver reads (2130706433,
    0x7f.1), is read; a name raises socket.gaierror without asking DNS."""
    name = host.strip("[]")
    flags = socket.AI_NUMERICHOST if numeric_only else 0
    answers = socket.getaddrinfo(name, port, allowed_gai_family(), socket.SOCK_STREAM, 0, flags)
    return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in answers))


def checked_addresses(
    host: str, port: int, allow_private: bool, *, numeric_only: bool = False
) -> list[str]:
    """Resolve once and refuse if ANY address is internal: a name with one public and one
    private address must not be a coin toss. Raises OSError when the name does not resolve
    (or, `numeric_only`, is a name at all)."""
    _refuse_localhost_names(host, allow_private)
    try:
        addresses = resolve(host, port, numeric_only=numeric_only)
    except UnicodeError:  # a label empty or over 63 characters: no DNS answer will fix it
        raise RefusedUrl(f"{host} is not a valid host name", internal=False) from None
    if allow_private:
        return addresses
    for text in addresses:
        reason = internal_reason(ipaddress.ip_address(text.partition("%")[0]))
        if reason:
            shown = f"{host} resolves to {text}" if host.strip("[]") != text else host
            raise RefusedUrl(f"{shown} ({reason})", internal=True)
    return addresses


def _refuse_localhost_names(host: str, allow_private: bool) -> None:
    """`localhost` and `*.localhost` are loopback by definition (RFC 6761), whatever the
    resolver says; a trailing dot must not change that."""
    name = host.rstrip(".").lower()
    if not allow_private and (name == "localhost" or name.endswith(".localhost")):
        raise RefusedUrl(f"{host} (a loopback name)", internal=True)


def check_url(url: str, allow_private: bool, *, numeric_only: bool = False) -> None:
    """Refuse a URL we must not call (RefusedUrl); OSError when its host does not resolve.
    Parsed by urllib3, as requests parses it, so both read the same host."""
    try:
        parts = parse_url(url)
    except ValueError:
        raise RefusedUrl("the URL does not parse", internal=False) from None
    if parts.scheme not in SCHEMES:
        raise RefusedUrl("only http and https URLs are called", internal=False)
    if not parts.host:
        raise RefusedUrl("the URL names no host", internal=False)
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    checked_addresses(parts.host, port, allow_private, numeric_only=numeric_only)


def check_configured_url(url: str, allow_private: bool) -> None:
    """check_url for a URL as it is configured, before anything is sent: whatever needs no DNS
    (DNS may not answer yet at start-up, and a name is checked again at every connection
    anyway). An address literal in any spelling (127.0.0.1, [::1], 2130706433, 0x7f.1), a
    localhost name, a scheme other than http(s) are refused now (RefusedUrl)."""
    with suppress(socket.gaierror):  # a name: what it resolves to is checked when connecting
        check_url(url, allow_private, numeric_only=True)


class _CheckedConnection:
    """Mixed into urllib3's connections: resolve, check, then connect to a checked address.
    `_dns_host` is swapped only while connecting, so TLS still verifies the certificate
    against (and sends SNI for) the URL's host name, and Host names it too."""

    allow_private = False

    def _new_conn(self) -> socket.socket:
        name = self._dns_host
        try:
            addresses = checked_addresses(name, self.port, self.allow_private)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        error: Exception | None = None
        for address in addresses:  # the rest, if one is unreachable (IPv6 without a route)
            self._dns_host = address
            try:
                sock = super()._new_conn()
            except (NewConnectionError, ConnectTimeoutError) as exc:
                error = exc
            else:
                deadline.watch(sock)  # the TLS handshake too is within the exchange's deadline
                return sock
            finally:
                self._dns_host = name
        raise error or NewConnectionError(self, f"{name} has no address")

    def connect(self) -> None:
        super().connect()
        deadline.watch(self.sock)  # after TLS, the socket that carries the exchange


@cache
def _pool_classes(allow_private: bool) -> dict[str, type]:
    def checked(connection: type) -> type:
        attributes = {"allow_private": allow_private}
        return type(f"Checked{connection.__name__}", (_CheckedConnection, connection), attributes)

    def pool(base: type, connection: type) -> type:
        return type(f"Checked{base.__name__}", (base,), {"ConnectionCls": checked(connection)})

    return {
        "http": pool(HTTPConnectionPool, HTTPConnection),
        "https": pool(HTTPSConnectionPool, HTTPSConnection),
    }


class CheckedAdapter(HTTPAdapter):
    """A requests adapter whose every connection goes through `_CheckedConnection`. With
    `allow_private` the check is off but the path is the same, so tests and a laptop run
    exercise the very code that guards production."""

    __attrs__ = [*HTTPAdapter.__attrs__, "allow_private"]

    def __init__(self, allow_private: bool = False, **kwargs: Any) -> None:
        self.allow_private = allow_private
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.allow_private)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise RefusedUrl("a proxy would connect in our place, unchecked", internal=False)


def guarded_session(allow_private: bool = False) -> requests.Session:
    """A session for calling URLs someone else chose. No proxies or .netrc from the
    environment (`trust_env`). A redirect, if a caller follows one, is checked like any
    other connection (the webhook sender follows none)."""
    session = requests.Session()
    session.trust_env = False
    adapter = CheckedAdapter(allow_private)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
