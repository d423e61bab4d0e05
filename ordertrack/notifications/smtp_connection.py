"""One SMTP connection per thread, opened with verified TLS and kept across messages.

Connect, TLS, EHLO and AUTH once per worker thread instead of once per email (issue 12). A
kept connection idle for a while is checked with NOOP before it carries a message; one the
server dropped anyway is found at the next message's MAIL, before any of the message was
sent, and replaced once. Only that failure is tried again here: anything later, DATA above
all, is the caller's to classify, and once DATA is answered 250 the message is the server's.

Each thread holds at most one connection (for the last SmtpConfig it used); nothing connects
at import time. `close()` is for the thread's end (the worker's shutdown hook calls it).
"""

import smtplib
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import lru_cache

__all__ = ["SmtpConfig", "close", "send", "tls_context"]


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    #: Upgrade with STARTTLS (port 587), or speak TLS from the first byte (port 465).
    starttls: bool = False
    implicit_tls: bool = False
    #: Check the server's certificate and name (against `ca_file` alone, when given).
    tls_verify: bool = True
    ca_file: str | None = None
    timeout: float = 10.0
    helo_name: str = "localhost"
    #: A kept connection idle longer than this is checked with NOOP before the next message.
    idle_check_seconds: float = 5.0


class _Dropped(Exception):
    """The kept connection was gone when MAIL was sent: nothing of the message reached the
    server, so it may go on a new connection. Carries what smtplib raised or replied."""

    def __init__(self, original: smtplib.SMTPException) -> None:
        super().__init__(str(original))
        self.original = original


class _MailChecked:
    """Tells a dead connection at MAIL, the first command of every message, from a refusal."""

    def mail(self, sender: str, options=()):
        try:
            code, reply = super().mail(sender, options)
        except smtplib.SMTPServerDisconnected as exc:
            raise _Dropped(exc) from None
        if code == 421:  # a server closing an idle client says 421 where MAIL's reply goes
            self.close()
            raise _Dropped(smtplib.SMTPSenderRefused(code, reply, sender))
        return code, reply


class _Plain(_MailChecked, smtplib.SMTP):
    pass


class _Implicit(_MailChecked, smtplib.SMTP_SSL):
    pass


@dataclass
class _Kept:
    config: SmtpConfig
    client: smtplib.SMTP
    last_used: float


_local = threading.local()


def send(config: SmtpConfig, message: EmailMessage) -> dict:
    """Send over this thread's connection (opened if need be); smtplib's refused recipients.
    Raises what smtplib raises, and ssl.SSLCertVerificationError for a server that does not
    verify; any failure closes the connection, so the next message starts afresh."""
    kept = _reusable(config)
    if kept is not None:
        try:
            return _transaction(kept, message)
        except _Dropped:
            pass  # dropped while idle: the message never left, so one new connection
    try:
        return _transaction(_open(config), message)
    except _Dropped as exc:  # the new connection refused MAIL: a plain failure
        raise exc.original from None


def close() -> None:
    """Close this thread's connection politely. QUIT's reply is not looked at: whatever it
    says, every message before it was accepted at DATA (issue 13, defect 7)."""
    kept = getattr(_local, "kept", None)
    _local.kept = None
    if kept is None:
        return
    try:
        kept.client.quit()
    except (smtplib.SMTPException, OSError):
        kept.client.close()


@lru_cache(maxsize=8)
def tls_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    """Verify the server's certificate and name against the system's CAs, or only against
    `ca_file` when given; `verify=False` still encrypts, but trusts any certificate."""
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _transaction(kept: _Kept, message: EmailMessage) -> dict:
    try:
        refused = kept.client.send_message(message)
    except BaseException:  # an error, a timeout, or the worker's time limit mid-command
        _discard(kept)
        raise
    kept.last_used = time.monotonic()
    return refused


def _reusable(config: SmtpConfig) -> _Kept | None:
    """This thread's connection if it is for this config and answers (NOOP after idling)."""
    kept = getattr(_local, "kept", None)
    if kept is None:
        return None
    if kept.config != config:
        close()
        return None
    if time.monotonic() - kept.last_used > config.idle_check_seconds and not _answers(kept):
        _discard(kept)
        return None
    return kept


def _answers(kept: _Kept) -> bool:
    try:
        code, _ = kept.client.noop()
    except (smtplib.SMTPException, OSError):
        return False
    return code == 250


def _open(config: SmtpConfig) -> _Kept:
    """Connect, then TLS, then AUTH: the password goes only over a verified connection."""
    client = _connect(config)
    try:
        if config.starttls:
            client.starttls(context=tls_context(config.tls_verify, config.ca_file))
        if config.username:
            client.login(config.username, config.password or "")
    except BaseException:
        client.close()
        raise
    kept = _Kept(config, client, time.monotonic())
    _local.kept = kept
    return kept


def _connect(config: SmtpConfig) -> smtplib.SMTP:
    # An explicit EHLO name: smtplib would otherwise look up this host's FQDN (a DNS round
    # trip, and CPU) for every connection.
    options = {"local_hostname": config.helo_name, "timeout": config.timeout}
    if config.implicit_tls:
        context = tls_context(config.tls_verify, config.ca_file)
        return _Implicit(config.host, config.port, context=context, **options)
    return _Plain(config.host, config.port, **options)


def _discard(kept: _Kept) -> None:
    """A connection that saw an error is not trusted with another message: closed, no QUIT."""
    if getattr(_local, "kept", None) is kept:
        _local.kept = None
    kept.client.close()
