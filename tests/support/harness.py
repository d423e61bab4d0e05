"""The service under test, whole: the real app, the real Dramatiq worker loop (on the
in-process broker or a real RedisBroker), a real database. `drain()` waits for the queues."""

import time
from dataclasses import dataclass

import dramatiq
from flask import Flask
from flask.testing import FlaskClient

from ordertrack.settings import Settings
from service.app import create_app
from tests.support.webhooks import Request
from workers.runtime import Runtime, build_runtime

QUEUES = ("events", "notifications")


@dataclass
class Service:
    app: Flask
    client: FlaskClient
    runtime: Runtime
    worker: dramatiq.Worker | None

    def post(self, request: Request, **overrides):
        headers = {**request.headers, **overrides.pop("headers", {})}
        return self.client.post(request.path, data=request.body, headers=headers, **overrides)

    def api(self, path: str, token: str = "test-api-token"):
        return self.client.get(path, headers={"Authorization": f"Bearer {token}"})

    def order(self, external_id: str, platform: str = "shopify") -> dict:
        response = self.api(f"/api/v1/orders/{platform}/{external_id}")
        assert response.status_code == 200, response.json
        return response.json

    def drain(self, timeout: float = 20.0) -> None:
        """Wait until every message, follow-ups and retries included, has been acked. The
        inbox relay enqueues after the commit, so the queues must stay idle twice in a row."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 2:
            assert time.monotonic() < deadline, "queues did not drain"
            time.sleep(0.05)
            busy = _unfinished(self.runtime.broker)
            if not busy:
                self.worker.join()
            quiet = 0 if busy else quiet + 1

    def stop(self) -> None:
        if self.worker:
            self.worker.stop()
        self.runtime.broker.close()
        self.runtime.engine.dispose()
        self.runtime.sessions.kw["bind"].dispose()


def _unfinished(broker: dramatiq.Broker) -> int:
    """Messages enqueued and not yet acked (delayed retries included)."""
    from dramatiq.brokers.stub import StubBroker

    names = [name for queue in QUEUES for name in (queue, f"{queue}.DQ")]
    if isinstance(broker, StubBroker):
        return sum(broker.queues[n].unfinished_tasks for n in names if n in broker.queues)
    return sum(broker.client.llen(f"{broker.namespace}:{name}") for name in names)


def start_service(*, with_worker: bool = True, worker_threads: int = 2) -> Service:
    settings = Settings.from_env()
    runtime = build_runtime(settings)
    app = create_app(settings, runtime=runtime)
    app.testing = True
    worker = None
    if with_worker:
        worker = dramatiq.Worker(runtime.broker, worker_threads=worker_threads, worker_timeout=50)
        worker.start()
    return Service(app, app.test_client(), runtime, worker)
