"""The email channel: one message over SMTP, its failures sorted into retry or give up.

RFC 5321: 4yz replies are transient ("try again"), 5yz permanent. A dropped connection or a
timeout is ambiguous; we retry it with the same Message-ID so a duplicate is recognisable.
Once DATA is answered 250 the message is sent, whatever follows (smtp_connection keeps the
connection open, and never looks at QUIT's reply).
"""

import smtplib
import ssl
from email.message import EmailMessage

from ordertrack.notifications import smtp_connection
from ordertrack.notifications.errors import DeliveryError
from ordertrack.notifications.messages import Rendered
from ordertrack.notifications.smtp_connection import SmtpConfig

__all__ = ["DeliveryError", "SmtpConfig", "build_message", "send"]


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
    if config.username and not (config.starttls or config.implicit_tls):
        raise DeliveryError("refusing to send the SMTP password without TLS", permanent=True)
    try:
        refused = smtp_connection.send(config, message)
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        raise _classified(code, text) from None
    except smtplib.SMTPResponseException as exc:
        raise _classified(exc.smtp_code, exc.smtp_error) from None
    except ssl.SSLCertVerificationError as exc:
        # Retried, not failed at once: a relay's certificate gets renewed or fixed, and an
        # impostor on the path can go away; MAX_ATTEMPTS bounds it, the reason says why.
        reason = f"the SMTP server's TLS certificate did not verify: {exc.verify_message}"
        raise DeliveryError(reason, permanent=False) from None
    except smtplib.SMTPNotSupportedError as exc:  # no STARTTLS (or AUTH) offered: not sent
        raise DeliveryError(f"SMTP server: {exc}", permanent=False) from None
    except (smtplib.SMTPException, OSError) as exc:
        reason = f"SMTP connection failed: {type(exc).__name__}"
        raise DeliveryError(reason, permanent=False) from None
    if refused:  # one recipient per message, so any refusal is the whole message
        code, text = next(iter(refused.values()))
        raise _classified(code, text)


def _classified(code: int, text: bytes | str) -> DeliveryError:
    detail = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return DeliveryError(f"SMTP {code} {detail}"[:500], permanent=500 <= code < 600)
