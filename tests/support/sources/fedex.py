"""FedEx Advanced Integrated Visibility: the body mirrors a Track API response; `fdx-signature`
is signed by the simulator's signer."""

from simulate.sources import fedex as sender
from tests.support.webhooks import Request, fixture_body

#: A security token as FedEx requires one: 26-100 characters, upper and lower case, a digit.
SECRET = "AdaLovelace1842AnalyticalEngineToken"


def signature(body: bytes, secret: str = SECRET) -> str:
    return sender.signature(body, secret)


def request(name: str, body: bytes | None = None, *, secret: str | None = SECRET) -> Request:
    """`secret=None` sends the push unsigned."""
    body = fixture_body("fedex", name) if body is None else body
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["fdx-signature"] = signature(body, secret)
    return Request("fedex", name, body, headers)
