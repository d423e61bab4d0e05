"""The browser tests' pieces: Debian's Chromium driven by Playwright (the pip package, whose
bundled driver needs no `playwright install`: no browser is ever downloaded), and the real
service as a subprocess (`ordertrack serve --dev`: gunicorn, SQLite, the in-process queue) that
the browser reaches over HTTP, as a customer's does."""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from playwright.sync_api import Browser, Playwright
from sqlalchemy import create_engine, select

from ordertrack.notifications.links import signing_keys, tracking_url
from ordertrack.settings import Settings
from ordertrack.store.models import Order
from tests.support.processes import Process, dev_server, wait_for
from tests.support.webhooks import Request

#: Debian's package `chromium` (the project's setup installs it); CHROMIUM overrides the path.
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
#: Headless, as root in a sandboxless container, and quiet: this machine's network is closed,
#: so every background fetch (updates, sync, QUIC probes) would only be refused, many at once.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def chromium_missing() -> str | None:
    """Why the browser cannot start, or None."""
    if shutil.which(CHROMIUM) is None:
        return (
            f"no Chromium at {CHROMIUM}: `make test` installs Debian's package "
            "(apt-get install -y --no-install-recommends chromium), or set CHROMIUM"
        )
    return None


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)


@dataclass
class Served:
    """`ordertrack serve --dev` on a free port, and what a test needs to talk to it."""

    url: str
    database_url: str
    env: dict[str, str]
    process: Process

    @property
    def api_token(self) -> str:
        return self.env["API_TOKEN"]

    def post(self, request: Request) -> requests.Response:
        return requests.post(
            self.url + request.path, data=request.body, headers=request.headers, timeout=10
        )

    def post_all(self, requests_: list[Request]) -> None:
        for request in requests_:
            response = self.post(request)
            assert response.status_code in (200, 202), (request.name, response.text)

    def api(self, path: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.api_token}"}
        return requests.get(self.url + path, headers=headers, timeout=10)

    def order(self, external_id: str, platform: str = "shopify") -> dict | None:
        response = self.api(f"/api/v1/orders/{platform}/{external_id}")
        return response.json() if response.status_code == 200 else None

    def wait_for_order(
        self, external_id: str, status: str, platform: str = "shopify", timeout: float = 20
    ) -> dict:
        """The order once the in-process queue has applied what was posted."""

        def reached() -> dict | None:
            assert self.process.running(), self.process.log()
            order = self.order(external_id, platform)
            return order if order and order["status"] == status else None

        return wait_for(reached, timeout=timeout, what=f"order {external_id} to be {status}")

    def order_row_id(self, external_id: str, platform: str = "shopify") -> int:
        """The order's own row id, what a tracking link signs (the API does not show it)."""
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                query = select(Order.id).where(
                    Order.platform == platform, Order.external_id == external_id
                )
                return connection.execute(query).scalar_one()
        finally:
            engine.dispose()

    def tracking_link(self, external_id: str, platform: str = "shopify") -> str:
        """The signed link a notification carries, signed with the service's SIGNING_SECRET."""
        keys = signing_keys(Settings(signing_secret=self.env["SIGNING_SECRET"]))
        return tracking_url(self.url, keys, self.order_row_id(external_id, platform))


@contextmanager
def serve(folder: Path, env: dict[str, str]) -> Iterator[Served]:
    """Migrate a SQLite file in `folder` and serve it on a free port until the block ends.
    `env` is the whole environment (the test's base_env applied), without REDIS_URL."""
    # An open event stream holds its gunicorn thread until its next write; the database is
    # thrown away, so a short grace before SIGKILL is enough.
    with dev_server(folder, env, stop_timeout=3) as (url, database_url, process):
        served_env = {**env, "DATABASE_URL": database_url, "PUBLIC_BASE_URL": url}
        yield Served(url, database_url, served_env | {"LOG_LEVEL": "WARNING"}, process)
