"""The composition root of the web process: `create_app(settings)` builds every environment
the same way. With no REDIS_URL the queue runs in-process, inside this app."""

import logging
from dataclasses import dataclass

from flask import Flask
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.middleware.proxy_fix import ProxyFix

from ordertrack import providers
from ordertrack.providers.base import Credentials
from ordertrack.settings import Settings
from ordertrack.store.db import make_engine
from service import (
    api,
    api_docs,
    console,
    errors,
    health,
    metrics,
    nul_guard,
    reports_api,
    returns_api,
    returns_page,
    tracking,
    twilio_status,
    unsubscribe,
    webhooks,
)
from service.inbox_writer import InboxWriter
from workers import inprocess
from workers.enqueue import send_many
from workers.runtime import Runtime, build_runtime

log = logging.getLogger(__name__)


@dataclass
class Edge:
    """What the blueprints reach through `current_app.extensions["ordertrack"]`."""

    settings: Settings
    runtime: Runtime
    inbox_writer: InboxWriter
    #: Each source's credentials, read once: the receiver needs them on every request.
    credentials: dict[str, Credentials]
    #: What GET /metrics reads: this process's series or every process's, and the store's.
    metrics: CollectorRegistry

    @property
    def engine(self) -> Engine:
        return self.runtime.engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.runtime.sessions

    @property
    def link_keys(self) -> tuple[bytes, ...]:
        """The keys the worker signs links with: the page must read what the email carries."""
        return self.runtime.channels.link_keys

    @property
    def durable_sessions(self) -> sessionmaker[Session]:
        """For what the web side writes and then confirms (an unsubscribe, a Twilio status, a
        resend): committed to disk before the answer, unlike the workers' own commits."""
        return self.runtime.durable_sessions

    @property
    def broker(self):
        return self.runtime.broker


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False
    runtime = runtime or build_runtime(settings)
    writer = _inbox_writer(settings, runtime)
    credentials = {name: settings.credentials_for(name) for name in providers.registry()}
    scrape = metrics.scrape_registry(settings, runtime.sessions)
    app.extensions["ordertrack"] = Edge(settings, runtime, writer, credentials, scrape)
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)
    errors.init_app(app)
    nul_guard.init_app(app)
    blueprints = (
        twilio_status.bp,
        webhooks.bp,
        api.bp,
        api_docs.bp,
        health.bp,
        metrics.bp,
        unsubscribe.bp,
        tracking.bp,
        returns_page.bp,
        returns_api.bp,
        reports_api.bp,
        console.bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    _log_sources(credentials)
    return app


def start_inprocess_queue(app: Flask) -> None:
    """Run the queue inside this process: only for the in-process (no Redis) broker."""
    edge: Edge = app.extensions["ordertrack"]
    inprocess.start(edge.runtime, edge.settings.inprocess_worker_threads)


def _inbox_writer(settings: Settings, runtime: Runtime) -> InboxWriter:
    """The writer gets its own connection, whose statements PostgreSQL cancels once its
    requests have stopped waiting (COMMIT_TIMEOUT_SECONDS): see service/inbox_writer.py."""
    timeout = settings.commit_timeout_seconds
    engine = make_engine(
        settings.database_url, pool_size=1, statement_timeout_ms=max(1, int(timeout * 1000))
    )
    return InboxWriter(engine, _enqueuer(runtime), timeout, settings.inbox_queue_limit)


def _enqueuer(runtime: Runtime):
    def enqueue(inbox_ids: list[int]) -> None:
        send_many(runtime.actors.process_event, inbox_ids)

    return enqueue


def _log_sources(credentials: dict[str, Credentials]) -> None:
    known = sorted(credentials)
    enabled = [name for name in known if credentials[name].configured]
    disabled = [name for name in known if name not in enabled]
    log.info("webhook sources enabled: %s", ", ".join(enabled) or "none")
    if disabled:
        log.info(
            "webhook sources disabled (no secret): %s; set %s to enable",
            ", ".join(disabled),
            ", ".join(f"WEBHOOK_SECRET_{name.upper()}" for name in disabled),
        )
