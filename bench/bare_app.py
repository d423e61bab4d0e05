"""The yardstick: a bare Flask receiver that only checks the HMAC and answers 202.

Served by the same gunicorn command line as `entry.wsgi:app`, so a ratio against it measures
what ordertrack adds (parsing, dedupe, the inbox commit, the enqueue), not Flask or gunicorn.
The EasyPost route exists so a mixed Shopify + EasyPost load can be replayed against both.
"""

import base64
import hashlib
import hmac
import os
import unicodedata

from flask import Flask, request

app = Flask(__name__)
SHOPIFY_KEY = os.environ.get("WEBHOOK_SECRET_SHOPIFY", "").encode()
EASYPOST_KEY = unicodedata.normalize("NFKD", os.environ.get("WEBHOOK_SECRET_EASYPOST", "")).encode()


def _answer(ok: bool):
    return ({"accepted": True}, 202) if ok else ({"error": "bad signature"}, 401)


@app.post("/webhooks/shopify")
def shopify():
    digest = hmac.new(SHOPIFY_KEY, request.get_data(), hashlib.sha256).digest()
    expected = base64.b64encode(digest)
    presented = request.headers.get("X-Shopify-Hmac-Sha256", "").encode()
    return _answer(hmac.compare_digest(expected, presented))


@app.post("/webhooks/easypost")
def easypost():
    digest = hmac.new(EASYPOST_KEY, request.get_data(), hashlib.sha256).hexdigest()
    presented = request.headers.get("X-Hmac-Signature", "").encode()
    return _answer(hmac.compare_digest(b"hmac-sha256-hex=" + digest.encode(), presented))
