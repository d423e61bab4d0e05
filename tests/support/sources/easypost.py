"""EasyPost: the body is an Event; `X-Hmac-Signature` is signed by the simulator's signer."""

from simulate.sources import easypost as sender
from tests.support.webhooks import Request, fixture_body

SECRET = "sécret-easypost"


def signature(body: bytes, secret: str = SECRET) -> str:
    return sender.signature(body, secret)


def request(name: str, body: bytes | None = None) -> Request:
    body = fixture_body("easypost", name) if body is None else body
    headers = {
        "Content-Type": "application/json",
        "X-Hmac-Signature": signature(body),
        "User-Agent": "EasyPost WebHook Agent 1.0",
    }
    return Request("easypost", name, body, headers)
