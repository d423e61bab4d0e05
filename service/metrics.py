"""GET /metrics: Prometheus text. In multiprocess mode (PROMETHEUS_MULTIPROC_DIR) it adds up
every gunicorn and worker process on this host; otherwise it serves this process's own.
With METRICS_TOKEN set it wants that as a bearer token; unset, it is open (a private network)."""

import hmac

from flask import Blueprint, Response, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from sqlalchemy.orm import Session, sessionmaker

from ordertrack.settings import Settings
from service.errors import error_response
from workers.metrics import StoreCollector

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def scrape():
    edge = current_app.extensions["ordertrack"]
    token = edge.settings.metrics_token
    if token and not _bearer_matches(token):
        return error_response(401, "missing or wrong bearer token (METRICS_TOKEN)")
    return Response(generate_latest(edge.metrics), content_type=CONTENT_TYPE_LATEST)


def scrape_registry(settings: Settings, sessions: sessionmaker[Session]) -> CollectorRegistry:
    """What a scrape reads, built once per app. The store's gauges go on this registry, not
    the multiprocess one, whose files hold only what processes recorded."""
    registry = CollectorRegistry()
    if settings.prometheus_multiproc_dir:
        multiprocess.MultiProcessCollector(registry, path=settings.prometheus_multiproc_dir)
    else:
        registry.register(_ThisProcess())
    registry.register(StoreCollector(sessions))
    return registry


class _ThisProcess:
    """The process's default registry, read through at each scrape."""

    def collect(self):
        return REGISTRY.collect()


def _bearer_matches(token: str) -> bool:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.encode(), token.encode())
