"""EasyPost: the body is an Event; `X-Hmac-Signature` is `hmac-sha256-hex=` + the hex
HMAC-SHA256 keyed by the NFKD-normalized webhook secret."""

import hashlib
import hmac
import unicodedata

from tests.support.webhooks import Request, fixture_body

SECRET = "sécret-easypost"


def signature(body: bytes, secret: str = SECRET) -> str:
    key = unicodedata.normalize("NFKD", secret).encode()
    return "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def request(name: str, body: bytes | None = None) -> Request:
    body = fixture_body("easypost", name) if body is None else body
    headers = {
        "Content-Type": "application/json",
        "X-Hmac-Signature": signature(body),
        "User-Agent": "EasyPost WebHook Agent 1.0",
    }
    return Request("easypost", name, body, headers)
