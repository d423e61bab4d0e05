"""Signed links in messages: the unsubscribe link every email carries (and, with issue 5, the
tracking page). Signed with SIGNING_SECRET; without one, with a key derived from the
deployment's own secrets, so links survive restarts without a new setting to forget."""

import hashlib
import hmac

from itsdangerous import BadSignature, URLSafeSerializer

from ordertrack.settings import Settings

_UNSUBSCRIBE = "unsubscribe"


def signing_key(settings: Settings) -> bytes:
    """SIGNING_SECRET, or an HMAC of every configured secret: stable, and unknown outside."""
    if settings.signing_secret:
        return settings.signing_secret.encode()
    secrets = [s for values in settings.webhook_secrets.values() for s in values]
    material = sorted([*secrets, settings.api_token or "", settings.twilio_auth_token or ""])
    return hmac.new(b"ordertrack links", "\0".join(material).encode(), hashlib.sha256).digest()


def _serializer(key: bytes) -> URLSafeSerializer:
    return URLSafeSerializer(key, salt=_UNSUBSCRIBE)


def unsubscribe_token(key: bytes, channel: str, recipient: str) -> str:
    return _serializer(key).dumps([channel, recipient])


def read_unsubscribe_token(key: bytes, token: str) -> tuple[str, str] | None:
    """(channel, recipient), or None for a token we did not sign."""
    try:
        channel, recipient = _serializer(key).loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(channel, str) or not isinstance(recipient, str):
        return None
    return channel, recipient


def unsubscribe_url(base_url: str, key: bytes, channel: str, recipient: str) -> str:
    return f"{base_url}/unsubscribe/{unsubscribe_token(key, channel, recipient)}"
