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


#: Keys whose string values are personal wherever they appear (matched lower-cased, and any
#: key containing "email" or "phone").
PERSONAL_KEYS = frozenset(
    {
        "first_name",
        "last_name",
        "firstname",
        "lastname",
        "full_name",
        "contact_name",
        "address1",
        "address2",
        "address_1",
        "address_2",
        "street",
        "street1",
        "street2",
        "street_1",
        "street_2",
        "street_address",
        "address_line_1",
        "address_line_2",
    }
)
#: Objects that describe a person (and any "*_address"): there, a plain `name` is theirs too.
PERSON_OBJECTS = frozenset(
    {"customer", "billing", "shipping", "address", "recipient", "contact", "addresses"}
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: A number written as a phone number: a leading +, or separated groups (555) 010-0142.
#: Bare digit runs are left alone: order ids and tracking numbers look just like them.
_PHONE = re.compile(r"^(\+[\d\s().-]{7,20}|\(?\d{2,4}\)?[\s.-]\d{3,4}[\s.-]\d{3,4})$")


def mask_payload(value: object, parent: str = "") -> object:
    """A webhook body with personal data masked, for staff: string values under keys that
    name a person's email, phone, name or street address, and any string that looks like an
    email or a phone number. Everything else is kept, so the payload still explains itself."""
    if isinstance(value, dict):
        return {key: _masked_field(str(key), item, parent) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_payload(item, parent) for item in value]
    if isinstance(value, str):
        return _masked_text(value)
    return value


def _masked_field(key: str, value: object, parent: str) -> object:
    if not isinstance(value, str):
        return mask_payload(value, key.lower())
    if _personal_key(key.lower(), parent):
        if "email" in key.lower() or _EMAIL.match(value.strip()):
            return mask_email(value)
        if "phone" in key.lower():
            return mask_phone(value)
        return f"{value[:1]}***" if value else value
    return _masked_text(value)


def _personal_key(key: str, parent: str) -> bool:
    if key in PERSONAL_KEYS or "email" in key or "phone" in key:
        return True
    return key == "name" and (parent in PERSON_OBJECTS or parent.endswith("_address"))


def _masked_text(text: str) -> str:
    stripped = text.strip()
    if _EMAIL.match(stripped):
        return mask_email(stripped)
    if _PHONE.match(stripped) and sum(c.isdigit() for c in stripped) >= 7:
        return mask_phone(stripped)
    return text
