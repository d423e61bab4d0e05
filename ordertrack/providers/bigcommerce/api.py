"""The store's V2 REST API, asked what a thin webhook names. The only I/O in this provider.

`X-Auth-Token` is a store API account's access token (Orders read-only is enough). Errors are
sorted once, here: what may succeed later is `UpstreamUnavailable` (the worker retries with
backoff, bounded by MAX_ATTEMPTS), what never will is `UpstreamRefused`.
"""

from typing import TYPE_CHECKING, Any

import requests

from ordertrack.errors import UpstreamRefused, UpstreamUnavailable

if TYPE_CHECKING:
    from ordertrack.settings import Settings

#: Rows per page of a V2 list; the default is 50, so a large order would silently lose items.
PAGE_SIZE = 250
#: No order has more pages than this; a server that keeps answering full pages is refused.
MAX_PAGES = 40
#: Headers that say when to come back, in the order we trust them.
WAIT_HEADERS = ("Retry-After", "X-Rate-Limit-Time-Reset-Ms")


class StoreApi:
    """One store's V2 API for one fetch: a session (one connection for the few calls a webhook
    needs), the store's base URL and the timeout."""

    def __init__(self, settings: "Settings", store_hash: str) -> None:
        token = settings.bigcommerce_access_token
        if not token:
            raise UpstreamRefused(
                "BIGCOMMERCE_ACCESS_TOKEN is not set: BigCommerce webhooks only name what changed,"
                " and ordertrack needs a store API token (Orders read-only) to read it"
            )
        base = settings.bigcommerce_api_base.rstrip("/")
        self.root = f"{base}/stores/{store_hash}/v2"
        self.timeout = settings.bigcommerce_timeout_seconds
        self.session = requests.Session()
        self.session.headers.update({"X-Auth-Token": token, "Accept": "application/json"})

    def __enter__(self) -> "StoreApi":
        return self

    def __exit__(self, *exc_info) -> None:
        self.session.close()

    def resource(self, path: str) -> dict[str, Any]:
        body = self._get(path, None)
        if not isinstance(body, dict):
            raise UpstreamRefused(f"BigCommerce GET {path} did not answer with an object")
        return body

    def collection(self, path: str) -> list[dict[str, Any]]:
        """Every row of a V2 list. 204 No Content is how V2 says "none" (an order's shipments
        before anything shipped)."""
        rows: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            body = self._get(path, {"limit": PAGE_SIZE, "page": page})
            if body is None:
                return rows
            if not isinstance(body, list):
                raise UpstreamRefused(f"BigCommerce GET {path} did not answer with a list")
            rows.extend(body)
            if len(body) < PAGE_SIZE:
                return rows
        raise UpstreamRefused(f"BigCommerce GET {path} has more than {MAX_PAGES} pages")

    def _get(self, path: str, params: dict | None) -> Any:
        try:
            # No redirects: requests would carry X-Auth-Token to wherever one points.
            response = self.session.get(
                self.root + path, params=params, timeout=self.timeout, allow_redirects=False
            )
        except requests.Timeout:
            raise UpstreamUnavailable(
                f"BigCommerce GET {path} did not answer within {self.timeout:g} s"
            ) from None
        except requests.RequestException as exc:
            raise UpstreamUnavailable(
                f"BigCommerce GET {path} failed: {type(exc).__name__}"
            ) from None
        _raise_for_status(path, response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            # A 200 that is not JSON comes from something in between (a proxy's error page).
            raise UpstreamUnavailable(f"BigCommerce GET {path} answered with no JSON") from None


def _raise_for_status(path: str, response: requests.Response) -> None:
    status = response.status_code
    if 300 <= status < 400:
        raise UpstreamRefused(
            f"BigCommerce GET {path} answered {status}: redirects are not followed"
        )
    if status < 400:
        return
    where = f"BigCommerce GET {path} answered {status}"
    if status == 429 or status >= 500:
        header, wait = _come_back(response)
        raise UpstreamUnavailable(where + header, retry_after=wait)
    if status in (401, 403):
        # A token can be fixed or given the Orders scope without losing the event meanwhile;
        # the worker's bounded retries keep this from looping for ever.
        raise UpstreamUnavailable(
            where + ": check BIGCOMMERCE_ACCESS_TOKEN and its Orders (read-only) scope"
        )
    if status == 404:
        raise UpstreamRefused(where + ": the resource is gone (deleted or archived)")
    raise UpstreamRefused(where)


def _come_back(response: requests.Response) -> tuple[str, float | None]:
    """What the API said about when to come back, for the message and in seconds."""
    for header in WAIT_HEADERS:
        value = response.headers.get(header)
        if value:
            return f" ({header}: {value[:40]})", _seconds(header, value)
    return "", None


def _seconds(header: str, value: str) -> float | None:
    """Retry-After in seconds (an HTTP date is left to the usual backoff), the reset in ms."""
    try:
        number = float(value)
    except ValueError:
        return None
    if not 0 <= number < 10**9:
        return None
    return number / 1000 if header.endswith("-Ms") else number
