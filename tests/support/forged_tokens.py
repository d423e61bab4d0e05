"""Links a customer never received: each signed link of ordertrack's (itsdangerous, `payload.
[timestamp.]signature`, base64url) tampered bit by bit, cut short, signed by someone else or for
another purpose, expired, or carrying another order's id under a genuine signature."""

import base64
from datetime import UTC, datetime, timedelta

import time_machine
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer

from ordertrack.notifications.links import tracking_token, unsubscribe_token
from service import returns_page


def _decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def bit_flips(token: str) -> list[str]:
    """One bit flipped in the first, middle and last byte of each part. (Flipping a base64
    character instead can land in the padding bits a decoder ignores: no change at all.)"""
    parts = token.split(".")
    flipped = []
    for index, part in enumerate(parts):
        raw = _decode(part)
        for position in sorted({0, len(raw) // 2, len(raw) - 1}):
            changed = bytearray(raw)
            changed[position] ^= 0x01
            flipped.append(".".join([*parts[:index], _encode(bytes(changed)), *parts[index + 1 :]]))
    return flipped


def truncations(token: str) -> list[str]:
    """Cut at every third length, and just before each separator and the last character."""
    cuts = set(range(1, len(token), 3)) | {len(token) - 1}
    cuts |= {i for i, c in enumerate(token) if c == "."}
    return [token[:cut] for cut in sorted(cuts) if token[:cut].strip(".")]


def with_payload(token: str, payload: object, serializer) -> str:
    """`token`'s own timestamp and signature around another payload: the genuine signature
    of one thing presented for another (A's link pointed at B's order)."""
    other = serializer.dump_payload(payload).decode()
    assert not other.startswith("."), "a compressed payload: pick a shorter one"
    return ".".join([other, *token.split(".")[1:]])


def tracking_serializer(keys: tuple[bytes, ...]) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(list(reversed(keys)), salt="tracking")


def unsubscribe_serializer(keys: tuple[bytes, ...]) -> URLSafeSerializer:
    return URLSafeSerializer(list(reversed(keys)), salt="unsubscribe")


def signed_days_ago(keys: tuple[bytes, ...], order_id: int, days: float) -> str:
    """The order's tracking link as an email sent `days` ago carries it."""
    with time_machine.travel(datetime.now(UTC) - timedelta(days=days), tick=False):
        return tracking_token(keys, order_id)


def bad_tracking_tokens(keys: tuple[bytes, ...], order_id: int, expiry_days: int) -> list[str]:
    """Every kind of tracking link for `order_id` that must not open its page."""
    good = tracking_token(keys, order_id)
    elsewhere = URLSafeTimedSerializer([b"another shop's secret"], salt="tracking")
    return [
        *bit_flips(good),
        *truncations(good),
        good + "A",
        elsewhere.dumps(order_id),  # another key
        unsubscribe_token(keys, order_id),  # our key, another purpose
        returns_page.form_token(keys, order_id),
        signed_days_ago(keys, order_id, expiry_days + 1),  # expired
        tracking_serializer(keys).dumps(str(order_id)),  # not an id
        tracking_serializer(keys).dumps(True),
        tracking_serializer(keys).dumps([order_id]),
        tracking_serializer(keys).dumps(10**9),  # signed, no such order
        str(order_id),
        "not-a-token",
    ]


def bad_unsubscribe_tokens(keys: tuple[bytes, ...], outbox_id: int) -> list[str]:
    """The same for the unsubscribe link of message `outbox_id` (it does not expire: a
    mailbox keeps old messages, and their link must keep working)."""
    good = unsubscribe_token(keys, outbox_id)
    elsewhere = URLSafeSerializer([b"another shop's secret"], salt="unsubscribe")
    return [
        *bit_flips(good),
        *truncations(good),
        good + "A",
        elsewhere.dumps(outbox_id),
        tracking_token(keys, outbox_id),
        unsubscribe_serializer(keys).dumps(str(outbox_id)),
        unsubscribe_serializer(keys).dumps(10**9),
        str(outbox_id),
        "not-a-token",
    ]
