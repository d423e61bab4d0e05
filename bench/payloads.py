"""Signed webhook traffic built from the test fixtures, as raw HTTP/1.1 requests.

One order's story is three deliveries: Shopify `orders/create`, Shopify `fulfillments/create`
(with a tracking number) and EasyPost `tracker.updated` with status `out_for_delivery`. Each
order gets its own ids, tracking number and customer address (`bench.<n>@example.test`, which
is how the end-to-end benchmark matches an email to its order), every delivery its own
webhook id, and every body its own signature. Timestamps keep the fixtures' spacing, shifted
so that the story ends five minutes ago.
"""

import base64
import hashlib
import hmac
import json
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import ROOT, SECRETS

FIXTURES = ROOT / "tests" / "fixtures"
ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
SHOP = "ordertrack-bench.myshopify.com"


@dataclass(frozen=True)
class Webhook:
    order: int  #: the story (order number) it belongs to
    kind: str  #: "create" | "fulfillment" | "tracker"
    raw: bytes  #: the complete signed HTTP/1.1 request


def _fixture(source: str, name: str) -> dict:
    path = FIXTURES / source / name
    if not path.exists():
        raise SystemExit(f"bench traffic is built from {path}, which is missing")
    return json.loads(path.read_text())


def _shift_times(value, delta: timedelta):
    """Every ISO timestamp in `value`, moved by `delta` (other values unchanged)."""
    if isinstance(value, dict):
        return {k: _shift_times(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [_shift_times(v, delta) for v in value]
    if isinstance(value, str) and ISO_TIME.match(value):
        with_zone = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (with_zone + delta).isoformat().replace("+00:00", "Z")
    return value


def _latest_time(value) -> datetime:
    found = re.findall(r'"(\d{4}-\d{2}-\d{2}T[^"]+)"', json.dumps(value))
    return max(datetime.fromisoformat(t.replace("Z", "+00:00")) for t in found)


class Traffic:
    """Builds signed deliveries for order stories; one instance per benchmark run."""

    def __init__(self) -> None:
        order = _fixture("shopify", "orders_create.json")
        fulfillment = _fixture("shopify", "fulfillments_create.json")
        tracker = _fixture("easypost", "tracker_updated__out_for_delivery.json")
        tracker["result"]["tracking_code"] = fulfillment["tracking_number"]
        stories = (order, fulfillment, tracker)
        latest = max(_latest_time(p) for p in stories)
        delta = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5) - latest
        self.order, self.fulfillment, self.tracker = (
            json.dumps(_shift_times(p, delta), separators=(",", ":")) for p in stories
        )
        self.run = secrets.token_hex(3)
        #: fixture value -> per-order replacement, applied to all three bodies as text
        self.fields = {
            str(order["id"]): lambda n: str(6_000_000_000_000 + n),
            str(fulfillment["id"]): lambda n: str(4_000_000_000_000 + n),
            fulfillment["tracking_number"]: lambda n: f"94{int(self.run, 16):08d}{n:012d}",
            order["email"]: lambda n: f"bench.{n}@example.test",
            order["name"]: lambda n: f"#B{n}",
            tracker["id"]: lambda n: f"evt_{self.run}{n:09d}",
            tracker["result"]["id"]: lambda n: f"trk_{self.run}{n:09d}",
        }
        self.triggered_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")

    def story(self, n: int) -> list[Webhook]:
        return [self.webhook(n, kind) for kind in ("create", "fulfillment", "tracker")]

    def webhook(self, n: int, kind: str) -> Webhook:
        text = {"create": self.order, "fulfillment": self.fulfillment}.get(kind, self.tracker)
        for old, new in self.fields.items():
            text = text.replace(old, new(n))
        body = text.encode()
        if kind == "tracker":
            return Webhook(n, kind, raw_request("/webhooks/easypost", easypost_headers(body), body))
        topic = "orders/create" if kind == "create" else "fulfillments/create"
        headers = shopify_headers(body, topic, f"{self.run}-{n}-{kind}", self.triggered_at)
        return Webhook(n, kind, raw_request("/webhooks/shopify", headers, body))

    def stream(self, orders: int, start: int = 0, lag: int = 300) -> list[Webhook]:
        """3 x `orders` deliveries where an order's fulfillment comes `lag` orders after its
        creation and its tracker update `lag` later still, as in steady real traffic."""
        out = []
        for step in range(orders + 2 * lag):
            for kind, n in (
                ("create", step),
                ("fulfillment", step - lag),
                ("tracker", step - 2 * lag),
            ):
                if 0 <= n < orders:
                    out.append(self.webhook(start + n, kind))
        return out


def shopify_headers(body: bytes, topic: str, webhook_id: str, triggered_at: str) -> dict:
    key = SECRETS["shopify"].encode()
    signature = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
    return {
        "Content-Type": "application/json",
        "User-Agent": "Shopify-Captain-Hook",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": signature,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Event-Id": webhook_id,
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-API-Version": "2026-07",
        "X-Shopify-Triggered-At": triggered_at,
    }


def easypost_headers(body: bytes) -> dict:
    key = unicodedata.normalize("NFKD", SECRETS["easypost"]).encode()
    digest = hmac.new(key, body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "User-Agent": "EasyPost WebHook Agent 1.0",
        "X-Hmac-Signature": f"hmac-sha256-hex={digest}",
    }


def raw_request(path: str, headers: dict, body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def write_requests(path: Path, webhooks: list[Webhook]) -> None:
    """The file bench/wrk_replay.lua reads: "<length>\\n<request bytes>" per request."""
    with open(path, "wb") as out:
        for webhook in webhooks:
            out.write(b"%d\n" % len(webhook.raw))
            out.write(webhook.raw)
