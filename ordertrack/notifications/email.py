"""The email channel: one message over SMTP, its failures sorted into retry or give up.

RFC 5321: 4yz replies are transient ("try again"), 5yz permanent. A dropped connection or a
timeout is ambiguous; we retry it with the same Message-ID so a duplicate is recognisable.
"""

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

from ordertrack.notifications.errors import DeliveryError
from ordertrack.notifications.messages import Rendered

__all__ = ["DeliveryError", "SmtpConfig", "build_message", "send"]


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0
    helo_name: str = "localhost"


def build_message(config: SmtpConfig, recipient: str, message_id: str, content: Rendered):
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = recipient
    message["Subject"] = content.subject
    message["Message-ID"] = message_id
    message.set_content(content.text)
    message.add_alternative(content.html, subtype="html")
    return message


def send(config: SmtpConfig, message: EmailMessage) -> None:
    try:
        # An explicit EHLO name: smtplib would otherwise look up this host's FQDN (a DNS
        # round trip, and CPU) for every message.
        client = smtplib.SMTP(
            config.host, config.port, local_hostname=config.helo_name, timeout=config.timeout
        )
        with client:
            if config.starttls:
                client.starttls()
            if config.username:
                client.login(config.username, config.password or "")
            refused = client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        raise _classified(code, text) from None
    except smtplib.SMTPResponseException as exc:
        raise _classified(exc.smtp_code, exc.smtp_error) from None
    except (smtplib.SMTPException, OSError) as exc:
        reason = f"SMTP connection failed: {type(exc).__name__}"
        raise DeliveryError(reason, permanent=False) from None
    if refused:  # one recipient per message, so any refusal is the whole message
        code, text = next(iter(refused.values()))
        raise _classified(code, text)


def _classified(code: int, text: bytes | str) -> DeliveryError:
    detail = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return DeliveryError(f"SMTP {code} {detail}"[:500], permanent=500 <= code < 600)
