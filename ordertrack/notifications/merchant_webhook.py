"""The merchant webhook channel: one signed POST of an order event to the merchant's URL, in
the Standard Webhooks format (spec v1.0.0; docs/notifications.md, "Merchant events"), its
outcome sorted into retry or give up.

- `webhook-id` is the event's idempotency key: the same on every retry of one outbox row.
- `webhook-timestamp` is this attempt's time; the receiver rejects it if more than about
  5 minutes off, so it is taken when the request goes out, never when the event happened.
- `webhook-signature` is `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with
  the bytes a `whsec_` secret encodes.
"""

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from urllib3.util import parse_url

from ordertrack.notifications import deadline, ssrf
from ordertrack.notifications.errors import DeliveryError
from ordertrack.notifications.lease import HTTP_STEPS
from ordertrack.notifications.messages import tracking_link
from ordertrack.notifications.news_rules import parcel_key
from ordertrack.notifications.retry_after import retry_after

__all__ = [
    "DeliveryError",
    "MerchantWebhookConfig",
    "event_body",
    "ops_event_body",
    "parse_secret",
    "send",
    "sign",
    "webhook_id",
]

WHSEC_PREFIX = "whsec_"
#: The spec's symmetric secret: at least 24 random bytes, at most 64.
SECRET_BYTES = range(24, 65)
WHSEC_FORMAT = (
    "MERCHANT_WEBHOOK_SECRET must be 'whsec_' followed by the base64 of 24 to 64 random bytes"
)
#: The spec's "throttle" answers (429, 502, 504) and 503, which commonly says when to return.
THROTTLED = frozenset({429, 502, 503, 504})
#: A Retry-After beyond this is capped: a merchant's header must not park an event for days
#: (and the queue cannot delay a message by a week).
#: Ids and timestamps must not contain "." (it delimits the signed content); we allow less.
WEBHOOK_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
#: The spec's event type: full-stop delimited identifiers of [a-zA-Z0-9_].
EVENT_TYPE = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*")

#: What a merchant's system needs to act on an event, by the API's own names. No customer
#: email, phone or address, on purpose: personal data stays in ordertrack (the merchant's
#: platform has it already), so the merchant's endpoint, its logs and anything it forwards
#: to carry none of it.
#: A delay flag raised; the outbox's kind carries the flag's id ("order.delayed:12").
DELAYED = "order.delayed"
ORDER_FIELDS = ("platform", "external_id", "name", "status", "progress")
SHIPMENT_FIELDS = ("carrier", "tracking_number", "status", "est_delivery")


@dataclass(frozen=True)
class MerchantWebhookConfig:
    url: str
    secret: str = field(repr=False)
    #: ALLOW_PRIVATE_WEBHOOK_URLS: a laptop or a test may call 127.0.0.1; production never.
    allow_private: bool = False
    #: The spec recommends 15 to 30 s for the receiver to answer: each of the connect and
    #: the answer gets this long, and the whole exchange `deadline`.
    timeout: float = 15.0

    @property
    def deadline(self) -> float:
        """The whole exchange's limit, however the endpoint trickles its answer: the connect
        and the answer a timeout each, as the send lease counts them (lease.HTTP_STEPS)."""
        return self.timeout * HTTP_STEPS


def parse_secret(value: str) -> bytes:
    """The HMAC key a `whsec_` secret encodes. The error says what is wrong, never the value."""
    if not isinstance(value, str) or not value.startswith(WHSEC_PREFIX):
        raise ValueError(WHSEC_FORMAT)
    encoded = value.removeprefix(WHSEC_PREFIX)
    try:  # padding is optional in the wild (the reference library adds it back too)
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(WHSEC_FORMAT) from None
    if len(key) not in SECRET_BYTES:
        raise ValueError(f"{WHSEC_FORMAT}; it decodes to {len(key)} bytes")
    return key


def sign(secret_key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def webhook_id(outbox_id: int, created_at: datetime, *, table: str = "") -> str:
    """A row's webhook-id: stable across its retries. The row's creation second keeps ids
    unique across a database that was reset, for receivers that remember ids for ever; a
    `table` other than the outbox ("alert") keeps its ids apart from the outbox's."""
    prefix = f"msg_ordertrack_{table}_" if table else "msg_ordertrack_"
    return f"{prefix}{outbox_id}_{int(_utc(created_at).timestamp())}"


def event_body(
    event_type: str, order_document: dict[str, Any], occurred_at: datetime, *, parcel: str = ""
) -> bytes:
    """The JSON body: the spec's recommended `type`, `timestamp` (when the event happened, not
    this attempt) and `data`, minified; these exact bytes are signed and sent. A parcel's
    event (`shipment.<status>`) names the parcel in `data.shipment`; the outbox's kind may
    carry a failed attempt's number ("shipment.delivery_failed:2"), which goes in there too."""
    event_type, _, suffix = event_type.partition(":")
    data = _order_data(order_document)
    failed = event_type == "shipment.delivery_failed"
    if parcel:
        attempt = int(suffix or 1) if failed else 0
        data["shipment"] = _parcel_data(order_document, parcel, attempt)
    if event_type == DELAYED:
        # The order's open delay flags (the new one among them): kind, parcel, since, detail.
        data["flags"] = order_document.get("flags", [])
    return ops_event_body(event_type, data, occurred_at)


def ops_event_body(event_type: str, data: dict[str, Any], occurred_at: datetime) -> bytes:
    """The same envelope around data of the caller's own (an alert's `ops.*` events)."""
    if not EVENT_TYPE.fullmatch(event_type):
        raise ValueError(f"not a Standard Webhooks event type: {event_type!r}")
    payload = {
        "type": event_type,
        "timestamp": _utc(occurred_at).isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def _order_data(document: dict[str, Any]) -> dict[str, Any]:
    data = {name: document.get(name) for name in ORDER_FIELDS}
    # Only the parcels that count: one the platform removed or cancelled is not on its way.
    data["shipments"] = [
        _shipment_data(shipment)
        for shipment in document.get("shipments", [])
        if not (shipment.get("cancelled") or shipment.get("removed"))
    ]
    return data


def _shipment_data(shipment: dict[str, Any]) -> dict[str, Any]:
    return {name: shipment.get(name) for name in SHIPMENT_FIELDS} | {
        "tracking_url": _link(shipment)
    }


def _parcel_data(document: dict[str, Any], parcel: str, attempt: int) -> dict[str, Any] | None:
    """The parcel the event is about: its key is "f:" and the platform's fulfillment id, then
    "#<n>" once its number was replaced (notifications/news_rules.py, parcel_ref)."""
    key = parcel_key(parcel)
    for shipment in document.get("shipments", []):
        if f"f:{shipment.get('fulfillment_id')}" == key:
            return _shipment_data(shipment) | {
                "fulfillment_id": shipment.get("fulfillment_id"),
                "attempt": attempt or None,
            }
    return None


def _link(shipment: dict[str, Any]) -> str | None:
    return tracking_link(
        shipment.get("carrier"), shipment.get("tracking_number"), shipment.get("tracking_url")
    )


def send(
    config: MerchantWebhookConfig,
    msg_id: str,
    body: bytes,
    *,
    now: Callable[[], datetime] | None = None,
    session: requests.Session | None = None,
) -> None:
    """One attempt. Returns on a 2xx; raises DeliveryError otherwise. A `session` given must
    come from `ssrf.guarded_session` (it is the connect-time SSRF check)."""
    if not WEBHOOK_ID.fullmatch(msg_id):
        raise ValueError("a webhook-id is letters, digits, '_' and '-' (never '.')")
    key = parse_secret(config.secret)
    where = f"merchant webhook {_host(config.url)}"
    _check(config, where)
    moment = _utc((now or _utcnow)())
    timestamp = int(moment.timestamp())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, msg_id, timestamp, body),
        "Content-Type": "application/json",
        "User-Agent": "ordertrack",
    }
    http = session or ssrf.guarded_session(config.allow_private)
    if not config.allow_private and not isinstance(
        http.get_adapter(config.url), ssrf.CheckedAdapter
    ):
        raise TypeError("send() needs a session from ssrf.guarded_session()")
    try:
        # Streamed and never read: the status and Retry-After are all we need, so a merchant's
        # huge or endless body costs nothing.
        with _post(http, config, headers, body, where) as response:
            _raise_for_status(response, where, moment)
    finally:
        if session is None:
            http.close()


def _check(config: MerchantWebhookConfig, where: str) -> None:
    try:
        ssrf.check_url(config.url, config.allow_private)
    except ssrf.RefusedUrl as exc:
        raise _refused(exc, where) from None
    except OSError as exc:  # DNS may answer later (or a typo gets fixed): worth retrying
        raise DeliveryError(f"{where}: the host did not resolve ({exc})", permanent=False) from None


def _post(
    http: requests.Session,
    config: MerchantWebhookConfig,
    headers: dict[str, str],
    body: bytes,
    where: str,
) -> requests.Response:
    cut = f"{where} did not finish answering within {config.deadline:g} s"
    with deadline.within(config.deadline) as watch:
        try:
            response = http.post(
                config.url,
                data=body,
                headers=headers,
                timeout=config.timeout,
                allow_redirects=False,
                stream=True,
            )
        except ssrf.RefusedUrl as exc:  # what the name resolved to when connecting
            raise _refused(exc, where) from None
        except requests.Timeout:
            reason = f"{where} did not answer within {config.timeout:g} s"
            raise DeliveryError(reason, permanent=False) from None
        except requests.RequestException as exc:
            reason = cut if watch.expired else f"{where} could not be reached: {type(exc).__name__}"
            raise DeliveryError(reason, permanent=False) from None
        if watch.expired:  # cut mid-headers, which http.client takes for their end
            response.close()
            raise DeliveryError(cut, permanent=False)
        return response


def _refused(exc: ssrf.RefusedUrl, where: str) -> DeliveryError:
    reason = f"{where} refused: {exc}"
    if exc.internal:
        reason += "; set ALLOW_PRIVATE_WEBHOOK_URLS=true only on a trusted network"
    return DeliveryError(reason, permanent=True)


def _raise_for_status(response: requests.Response, where: str, now: datetime) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    where = f"{where} answered {status}"
    if 300 <= status < 400:
        # The spec: a redirect is a failure, and the fix is a new URL. Following it would also
        # let the merchant's server point us anywhere, around the SSRF check.
        reason = f"{where}: redirects are not followed; set MERCHANT_WEBHOOK_URL to the target"
        raise DeliveryError(reason, permanent=False)
    if status == 410:
        # The spec: 410 Gone means the receiver wants no more; retrying would be rude.
        raise DeliveryError(f"{where}: endpoint gone", permanent=True)
    if status in THROTTLED:
        wait = retry_after(response.headers.get("Retry-After"), now)
        raise DeliveryError(where, permanent=False, retry_after=wait)
    # Any other 4xx is transient too, as the spec's senders treat every non-2xx: a wrong secret
    # or a broken route on the merchant's side is fixable, and an event kept for the hours of
    # backoff arrives once it is fixed. The sender's attempt limit still ends it.
    raise DeliveryError(where, permanent=False)


def _host(url: str) -> str:
    """Only the host, for reasons: a URL's path or query may carry the merchant's token."""
    try:
        return parse_url(url).host or "(no host)"
    except ValueError:
        return "(unparsable URL)"


def _utc(moment: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken as UTC (SQLite hands them back naive)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _utcnow() -> datetime:
    return datetime.now(UTC)
