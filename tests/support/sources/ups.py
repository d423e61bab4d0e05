"""UPS Track Alert (v1): the body is one scan; there is no signature. UPS sends back the
subscription's `destination.credential` as the `credential` header (the simulator's `sign`),
with the User-Agent `UPSPubSubTrackingService` (UPSTrackAlert.yaml, webhook `TrackingEvent`)."""

from simulate.sources import ups as sender
from tests.support.webhooks import Request, fixture_body

SECRET = "ups-track-alert-credential-ada-1842"


def request(name: str, body: bytes | None = None, *, credential: str | None = SECRET) -> Request:
    """`credential=None` sends the push without the header."""
    body = fixture_body("ups", name) if body is None else body
    headers = {"Content-Type": "application/json", "User-Agent": "UPSPubSubTrackingService"}
    if credential is not None:
        headers |= sender.sign(body, credential)
    return Request("ups", name, body, headers)
