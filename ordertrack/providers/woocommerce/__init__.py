"""WooCommerce: orders from the webhooks under WooCommerce > Settings > Advanced > Webhooks.

Reference: woocommerce/woocommerce `includes/class-wc-webhook.php` (delivery, signature, ping)
and the REST API v3 order resource (woocommerce-rest-api-docs `wp-api-v3/_orders.md`). The body
is that resource and the topic travels in `X-WC-Webhook-Topic`; a deleted order is only
`{"id": N}`. Signed with a base64 HMAC-SHA256 of the raw body, keyed by the webhook secret once
WordPress has decoded its HTML entities. WooCommerce never retries, and keeps no tracking of its
own: parcels come from the WooCommerce Shipment Tracking plugin's order meta.
"""

import hashlib
import re
from typing import Any

from ordertrack.errors import MissingFields
from ordertrack.providers.base import Credentials, Envelope, WebhookRequest, classify_topic, load
from ordertrack.providers.spec import Docs, Provider
from ordertrack.providers.woocommerce import tables
from ordertrack.providers.woocommerce.normalizers import normalize
from ordertrack.providers.woocommerce.schemas import EDGE_SCHEMAS, HANDLED_TOPICS
from ordertrack.signatures import base64_digests, verify_any

SIGNATURE_HEADER = "X-WC-Webhook-Signature"
TOPIC_HEADER = "X-WC-Webhook-Topic"
DELIVERY_HEADER = "X-WC-Webhook-Delivery-ID"

#: The ping WooCommerce sends when a webhook is saved: `webhook_id=<id>`, form-encoded.
_PING = re.compile(rb"webhook_id=[0-9]{1,20}")
_FORM = "application/x-www-form-urlencoded"

#: wp_specialchars_decode($secret, ENT_QUOTES): zero padding off numeric entities, then these.
_PADDED = (
    (re.compile(r"&#0*39;"), "&#039;"),
    (re.compile(r"&#x0*27;", re.IGNORECASE), "&#x27;"),
    (re.compile(r"&#0*34;"), "&#034;"),
    (re.compile(r"&#x0*22;", re.IGNORECASE), "&#x22;"),
    (re.compile(r"&#0*60;"), "&#060;"),
    (re.compile(r"&#0*62;"), "&#062;"),
    (re.compile(r"&#0*38;"), "&#038;"),
    (re.compile(r"&#x0*26;", re.IGNORECASE), "&#x26;"),
)
_ENTITIES = {
    **{e: "'" for e in ("&#039;", "&#x27;")},
    **{e: '"' for e in ("&quot;", "&#034;", "&#x22;")},
    **{e: "<" for e in ("&lt;", "&#060;")},
    **{e: ">" for e in ("&gt;", "&#062;")},
    **{e: "&" for e in ("&amp;", "&#038;", "&#x26;")},
}
_ENTITY = re.compile("|".join(map(re.escape, _ENTITIES)))


def wp_specialchars_decode(text: str) -> str:
    """The key WooCommerce signs with: the stored secret with only the entities of &, <, >, "
    and ' decoded, once (`&amp;lt;` stays `&lt;`); `&copy;` and the like stay as typed."""
    for pattern, canonical in _PADDED:
        text = pattern.sub(canonical, text)
    return _ENTITY.sub(lambda match: _ENTITIES[match.group()], text)


def handshake(delivery: WebhookRequest) -> bool:
    """WooCommerce's ping on saving a webhook: unsigned, no topic, body `webhook_id=<digits>`.
    Anything but a 200 shows the merchant an error, and nothing in it is worth storing."""
    media_type = delivery.headers.get("Content-Type", "").partition(";")[0].strip().lower()
    return (
        media_type in ("", _FORM)
        and TOPIC_HEADER not in delivery.headers
        and _PING.fullmatch(delivery.body) is not None
    )


def verify(delivery: WebhookRequest, credentials: Credentials) -> None:
    keys = (wp_specialchars_decode(secret).encode() for secret in credentials.secrets)
    verify_any(delivery.headers.get(SIGNATURE_HEADER), base64_digests(keys, delivery.body))


def envelope(delivery: WebhookRequest, payload: Any) -> Envelope:
    topic = delivery.headers.get(TOPIC_HEADER)
    handled = classify_topic(topic, HANDLED_TOPICS, tables.IGNORED_TOPICS, tables.NAME)
    if handled:
        load(EDGE_SCHEMAS[topic], payload, topic)
    return Envelope(topic=topic, dedupe_key=dedupe_key(delivery, topic), handled=handled)


def dedupe_key(delivery: WebhookRequest, topic: str) -> str:
    """WooCommerce has no event id. X-WC-Webhook-Delivery-ID is wp_hash(webhook id . current
    second): two deliveries in one second share it, so it cannot be the key alone; and as
    WooCommerce never retries, a duplicate is the same news sent twice, which is the same bytes
    (every order body carries its date_modified). So the key is a digest of topic and body. A
    deletion's body is only `{"id": N}`, the same each time: delete, restore and delete again
    would read as one, so deletions add the delivery id (two deletions of one order within one
    second would still read as one: a trash, restore and trash that fast is not a real case)."""
    parts = [topic.encode(), delivery.body]
    if topic.endswith(".deleted"):
        delivery_id = delivery.headers.get(DELIVERY_HEADER)
        if not delivery_id:
            raise MissingFields(f"{DELIVERY_HEADER} header is missing")
        parts.append(delivery_id.encode())
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big") + part)
    return f"sha256:{digest.hexdigest()}"


#: The provider contract (docs/adding-a-provider.md).
DOCS = Docs(
    __doc__, tables.SETUP, tables.VERIFIED, HANDLED_TOPICS, tables.IGNORED_TOPICS, tables.TABLES
)
PROVIDER = Provider(
    tables.NAME, tables.KIND, verify, envelope, normalize, DOCS, handshake=handshake
)
