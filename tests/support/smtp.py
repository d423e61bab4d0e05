"""A real SMTP server (aiosmtpd) that records what it accepts and can be told to answer a
recipient with a transient (4xx) or permanent (5xx) reply, as RFC 5321 servers do; to answer
QUIT with something other than 221, or hang up; to speak TLS (STARTTLS or implicit) with a
certificate made for the test; and to hang up on its clients between messages."""

import asyncio
import email
import email.policy
import socket
import ssl
from dataclasses import dataclass, field
from email.message import Message

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

#: `Recorder.quit_reply` that closes the connection instead of answering QUIT.
HANG_UP = "hang up"


@dataclass
class Recorder:
    messages: list[Message] = field(default_factory=list)
    #: recipient -> replies to give at RCPT, in order; when exhausted, accept.
    scripted: dict[str, list[str]] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    #: The answer to QUIT in place of "221 Bye"; HANG_UP drops the connection instead.
    quit_reply: str | None = None
    quits: int = 0
    #: aiosmtpd's protocol object of every connection that said EHLO: one per connection.
    connections: list = field(default_factory=list)
    #: (login, password, whether TLS was on) for every AUTH the server received.
    logins: list[tuple[str, str, bool]] = field(default_factory=list)
    noops: int = 0
    #: The server's event loop, once started.
    loop: asyncio.AbstractEventLoop | None = None

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        if not any(seen is server for seen in self.connections):
            self.connections.append(server)
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        self.attempts[address] = self.attempts.get(address, 0) + 1
        replies = self.scripted.get(address)
        if replies:
            return replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    async def handle_QUIT(self, server, session, envelope):  # noqa: N802
        self.quits += 1
        if self.quit_reply == HANG_UP:
            server.transport.abort()
            return "221 unheard"
        return self.quit_reply or "221 Bye"

    async def handle_NOOP(self, server, session, envelope, arg):  # noqa: N802
        self.noops += 1
        return "250 OK"

    def hang_up(self, reply: str | None = None) -> None:
        """Close every open connection, as a server does with idle clients; `reply` first
        (Postfix says "421 4.4.2 ... Error: timeout exceeded")."""

        async def close_all() -> None:
            for server in self.connections:
                if server.transport is not None and not server.transport.is_closing():
                    if reply:
                        server.transport.write(f"{reply}\r\n".encode())
                    server.transport.close()

        asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(timeout=5)

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        login, password = auth_data.login.decode(), auth_data.password.decode()
        tls = server.transport.get_extra_info("ssl_object") is not None
        self.logins.append((login, password, tls))
        return AuthResult(success=True)

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_smtp(
    *, starttls: ssl.SSLContext | None = None, implicit_tls: ssl.SSLContext | None = None
) -> tuple[Controller, Recorder]:
    """A server on a free port. `starttls` offers STARTTLS with that server context;
    `implicit_tls` speaks TLS from the first byte (port 465's way). Either way AUTH is also
    accepted without TLS, so a client that sent its password too early would be seen."""
    recorder = Recorder()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=free_port(),
        ssl_context=implicit_tls,
        tls_context=starttls,
        authenticator=recorder.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    recorder.loop = controller.loop
    return controller, recorder
