"""Personal data shown masked: enough for a merchant to recognise a customer's address or
number, not enough to harvest or dial it. Used wherever one could reach a log or the API."""

import re


def mask_email(address: str) -> str:
    """a***@example.com."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_phone(number: str) -> str:
    """+1555***0142."""
    digits = re.sub(r"\D", "", number)
    plus = "+" if number.lstrip().startswith("+") else ""
    tail = 4 if len(digits) >= 10 else 2
    head = max(0, min(4, len(digits) - tail - 3))
    if len(digits) < 6:
        return "***"
    return f"{plus}{digits[:head]}***{digits[-tail:]}"


def mask_recipient(channel: str, recipient: str) -> str:
    """Customers' addresses masked; the merchant's own endpoint is not personal data."""
    if channel == "merchant_webhook":
        return recipient
    return mask_phone(recipient) if channel == "sms" else mask_email(recipient)


def scrubbed(text: str | None, recipient: str, channel: str) -> str | None:
    """A failure's reason with the recipient masked: SMTP servers quote the address."""
    if not text or channel == "merchant_webhook":
        return text
    return text.replace(recipient, mask_recipient(channel, recipient))
