"""Broker set-up, in one place: Redis when REDIS_URL is set, otherwise an in-process broker
whose worker threads run inside the web process (`make run` needs nothing else)."""

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Middleware,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from ordertrack.notifications import smtp_connection
from ordertrack.settings import Settings
from workers import redis_consumer

#: Seconds; a frozen Redis must not hang a request thread or a worker (docs/reliability.md,
#: "Dramatiq on Redis").
SOCKET_TIMEOUT = 2
SOCKET_CONNECT_TIMEOUT = 1


def setup_broker(settings: Settings, *, heartbeat_timeout_ms: int = 15_000) -> dramatiq.Broker:
    middleware = [
        AgeLimit(),
        TimeLimit(time_limit=120_000),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(
            max_retries=settings.max_attempts,
            min_backoff=settings.retry_min_backoff_ms,
            max_backoff=settings.retry_max_backoff_ms,
        ),
        CloseSmtpConnection(),
    ]
    if settings.redis_url:
        # The client is built here: given `url=`, Dramatiq makes its own connection pool and
        # redis-py then ignores every timeout passed alongside.
        client = redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_CONNECT_TIMEOUT,
            health_check_interval=30,
        )
        broker = redis_consumer.Broker(
            client=client,
            middleware=middleware,
            namespace="ordertrack",
            # A dead worker's messages come back after this long, checked on 1 in 50 polls,
            # instead of Dramatiq's 60 s and 1 in 1000 (docs/reliability.md, "Dramatiq on
            # Redis").
            heartbeat_timeout=heartbeat_timeout_ms,
            maintenance_chance=20_000,
        )
    else:
        broker = StubBroker(middleware=middleware)
    return broker


class CloseSmtpConnection(Middleware):
    """Each worker thread keeps one SMTP connection across messages; it says QUIT as the
    thread stops (the hook runs in that thread)."""

    def before_worker_thread_shutdown(self, broker: dramatiq.Broker, thread) -> None:
        smtp_connection.close()


def broker_answers(broker: dramatiq.Broker) -> bool:
    if isinstance(broker, RedisBroker):
        try:
            return bool(broker.client.ping())
        except Exception:
            return False
    return True


def waiting(broker: dramatiq.Broker, queue_name: str) -> int:
    """Messages on a queue that no worker has taken yet (delayed ones not counted)."""
    if isinstance(broker, RedisBroker):
        return int(broker.client.llen(f"{broker.namespace}:{queue_name}"))
    return broker.queues[queue_name].qsize()
