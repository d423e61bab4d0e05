"""Fixtures as providers send them, signed the way each provider signs. The signing here is
written from the providers' documentation, independently of ordertrack's verifiers."""

import base64
import hashlib
import hmac
import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).parent.parent / "fixtures"
SECRETS = {"shopify": "shpss_test_secret", "easypost": "sécret-easypost"}
_SHOPIFY_TOPICS = json.loads((FIXTURES / "shopify" / "topics.json").read_text())


@dataclass(frozen=True)
class Request:
    source: str
    name: str
    body: bytes
    headers: dict[str, str]

    @property
    def path(self) -> str:
        return f"/webhooks/{self.source}"


def fixture_body(source: str, name: str) -> bytes:
    return (FIXTURES / source / f"{name}.json").read_bytes().rstrip(b"\n")


def fixture_names(source: str) -> list[str]:
    skip = {"topics", "signature_vector", "event-body"}
    return sorted(p.stem for p in (FIXTURES / source).glob("*.json") if p.stem not in skip)


def shopify_signature(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def easypost_signature(body: bytes, secret: str) -> str:
    key = unicodedata.normalize("NFKD", secret).encode()
    return "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def shopify(name: str, body: bytes | None = None, *, webhook_id: str | None = None) -> Request:
    meta = _SHOPIFY_TOPICS[name]
    body = fixture_body("shopify", name) if body is None else body
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": meta["topic"],
        "X-Shopify-Hmac-Sha256": shopify_signature(body, SECRETS["shopify"]),
        "X-Shopify-Shop-Domain": meta["shop_domain"],
        "X-Shopify-API-Version": meta["api_version"],
        "X-Shopify-Webhook-Id": webhook_id or meta["webhook_id"],
        "X-Shopify-Event-Id": meta["event_id"],
        "X-Shopify-Triggered-At": meta["triggered_at"],
    }
    return Request("shopify", name, body, headers)


def easypost(name: str, body: bytes | None = None) -> Request:
    body = fixture_body("easypost", name) if body is None else body
    headers = {
        "Content-Type": "application/json",
        "X-Hmac-Signature": easypost_signature(body, SECRETS["easypost"]),
        "User-Agent": "EasyPost WebHook Agent 1.0",
    }
    return Request("easypost", name, body, headers)


def request_for(source: str, name: str) -> Request:
    return {"shopify": shopify, "easypost": easypost}[source](name)


#: The whole story of order #1042: two parcels, both delivered.
STORY = [
    shopify("orders_create"),
    shopify("orders_paid"),
    shopify("fulfillments_create"),
    shopify("fulfillments_create__second_parcel"),
    easypost("tracker_created"),
    easypost("tracker_updated__in_transit"),
    easypost("tracker_updated__parcel2_in_transit"),
    easypost("tracker_updated__out_for_delivery"),
    easypost("tracker_updated__delivered"),
    easypost("tracker_updated__parcel2_out_for_delivery"),
    easypost("tracker_updated__parcel2_delivered"),
]
ORDER_ID = "5531234567890"
