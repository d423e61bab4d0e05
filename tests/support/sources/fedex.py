"""FedEx Advanced Integrated Visibility: the body mirrors a Track API response; `fdx-signature`
is the base64 HMAC-SHA256 of the raw body keyed by the webhook project's security token
(FedEx developer portal, shipment-visibility-webhook business rules: "SHA256(security token +
payload) = Base 64 encoded fdx-signature", and its Java sample `HmacSHA256` + base64)."""

import base64
import hashlib
import hmac

from tests.support.webhooks import Request, fixture_body

#: A security token as FedEx requires one: 26-100 characters, upper and lower case, a digit.
SECRET = "AdaLovelace1842AnalyticalEngineToken"


def signature(body: bytes, secret: str = SECRET) -> str:
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def request(name: str, body: bytes | None = None, *, secret: str | None = SECRET) -> Request:
    """`secret=None` sends the push unsigned."""
    body = fixture_body("fedex", name) if body is None else body
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["fdx-signature"] = signature(body, secret)
    return Request("fedex", name, body, headers)
