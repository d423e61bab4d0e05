"""Signed links in messages: the unsubscribe link every email carries (and, with issue 5, the
tracking page). The link names the message, not the person: no address in a URL that
proxies and mail scanners log. Signed with SIGNING_SECRET, a comma-separated list whose
first value signs and every value verifies, so it can rotate while old links keep working."""

import secrets

from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer

from ordertrack.settings import Settings

_UNSUBSCRIBE = "unsubscribe"


class MissingSigningSecret(ValueError):
    """Email is on, so unsubscribe links go out, and nothing would sign them stably."""


def signing_keys(settings: Settings) -> tuple[bytes, ...]:
    """SIGNING_SECRET's values, newest first. Without it, and without email (a laptop's
    `make run`), a key for this process alone: no link it signs ever leaves it."""
    values = tuple(v.strip() for v in (settings.signing_secret or "").split(",") if v.strip())
    if values:
        return tuple(v.encode() for v in values)
    if settings.smtp_host:
        raise MissingSigningSecret(
            "set SIGNING_SECRET: every email carries a signed unsubscribe link, which must keep"
            " working across restarts (a comma-separated list rotates it)"
        )
    return (secrets.token_bytes(32),)


def _serializer(keys: tuple[bytes, ...]) -> URLSafeSerializer:
    # itsdangerous signs with the last key and accepts any: ours are newest first.
    return URLSafeSerializer(list(reversed(keys)), salt=_UNSUBSCRIBE)


def unsubscribe_token(keys: tuple[bytes, ...], outbox_id: int) -> str:
    return _serializer(keys).dumps(outbox_id)


def read_unsubscribe_token(keys: tuple[bytes, ...], token: str) -> int | None:
    """The message the link was in, or None for a token we did not sign."""
    try:
        outbox_id = _serializer(keys).loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    return outbox_id if isinstance(outbox_id, int) and not isinstance(outbox_id, bool) else None


def unsubscribe_url(base_url: str, keys: tuple[bytes, ...], outbox_id: int) -> str:
    return f"{base_url}/unsubscribe/{unsubscribe_token(keys, outbox_id)}"


_TRACKING = "tracking"


def tracking_token(keys: tuple[bytes, ...], order_id: int) -> str:
    """The order's tracking page link: a signed, dated reference to the order (no number or
    address in it), valid for TRACKING_LINK_DAYS."""
    return URLSafeTimedSerializer(list(reversed(keys)), salt=_TRACKING).dumps(order_id)


def read_tracking_token(keys: tuple[bytes, ...], token: str, max_age_days: int) -> int | None:
    """The order id, or None for a token we did not sign or one older than its life."""
    serializer = URLSafeTimedSerializer(list(reversed(keys)), salt=_TRACKING)
    try:
        order_id = serializer.loads(token, max_age=max_age_days * 86400)
    except (BadSignature, ValueError, TypeError):
        return None
    return order_id if isinstance(order_id, int) and not isinstance(order_id, bool) else None


def tracking_url(base_url: str, keys: tuple[bytes, ...], order_id: int) -> str:
    return f"{base_url}/t/{tracking_token(keys, order_id)}"
