"""Staff see a webhook's payload with personal data masked: enough to recognise, not to
harvest. The masking is a pure function of the JSON."""

from ordertrack.masking import mask_payload

ORDER = {
    "id": 5531234567890,
    "name": "#1042",
    "email": "ada@example.com",
    "contact_email": "ada@example.com",
    "phone": "+1 555 010 0142",
    "customer": {"first_name": "Ada", "last_name": "Lovelace", "name": "Ada Lovelace"},
    "shipping_address": {
        "name": "Ada Lovelace",
        "address1": "12 St James's Square",
        "address2": "Flat 3",
        "city": "London",
        "zip": "10001",
        "phone": "(555) 010-0142",
    },
    "billing": {"address_1": "1 Analytical Way", "email": "billing@example.com"},
    "line_items": [{"name": "Analytical Engine", "quantity": 1}],
    "shipping_lines": [{"name": "Standard shipping"}],
    "note": "call me on +44 20 7946 0958",
    "tracking_number": "9400111899223344556677",
    "order_number": "5531234567890",
}


def _all_strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in _all_strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _all_strings(item)]
    return [value] if isinstance(value, str) else []


def test_emails_phones_names_and_street_addresses_are_masked():
    masked = mask_payload(ORDER)
    text = " ".join(_all_strings(masked))
    for secret in ("ada@example.com", "Lovelace", "St James", "Flat 3", "Analytical Way"):
        assert secret not in text, secret
    assert "010-0142" not in text and "010 0142" not in text
    assert masked["email"] == "a***@example.com"
    assert masked["customer"]["first_name"] == "A***"
    assert masked["shipping_address"]["name"] == "A***"
    assert masked["billing"]["email"] == "b***@example.com"


def test_what_explains_the_payload_is_kept():
    masked = mask_payload(ORDER)
    assert masked["id"] == ORDER["id"]
    assert masked["name"] == "#1042", "an order's name is not a person's"
    assert masked["line_items"] == ORDER["line_items"]
    assert masked["shipping_lines"] == ORDER["shipping_lines"]
    assert masked["shipping_address"]["city"] == "London"
    assert masked["tracking_number"] == ORDER["tracking_number"], "digit runs are not phones"
    assert masked["order_number"] == ORDER["order_number"]


def test_a_string_that_looks_like_an_email_or_phone_is_masked_under_any_key():
    masked = mask_payload({"message": "someone@shop.example", "reply_to": ["+44 20 7946 0958"]})
    assert masked == {"message": "s***@shop.example", "reply_to": ["+4420***0958"]}


def test_the_input_is_not_changed_and_non_strings_pass_through():
    original = {"customer": {"email": None, "first_name": 7, "tags": [True, 1.5]}}
    assert mask_payload(original) == original
    assert mask_payload(ORDER) is not ORDER and ORDER["email"] == "ada@example.com"
