"""workers/redis_consumer.py on a private redis-server: what the consumer does with a
message it cannot decode, a Redis that stops answering, and what it fetched but had not
handed on when it closes. The fault rows Q-5, Q-8 and Q-10 (tests/faults) show the same
through whole worker processes; here each case is pinned down directly."""

import time

import dramatiq
import pytest
import redis
from dramatiq.errors import ConnectionClosed

from tests.support.processes import RedisServer
from workers.broker import SOCKET_CONNECT_TIMEOUT, SOCKET_TIMEOUT
from workers.redis_consumer import Broker

NAMESPACE = "consumer-test"


@pytest.fixture
def server(tmp_path):
    running = RedisServer(tmp_path).start()
    yield running
    running.stop()


@pytest.fixture
def broker(server):
    client = redis.Redis.from_url(
        server.url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_CONNECT_TIMEOUT
    )  # as workers/broker.py makes it
    broker = Broker(client=client, namespace=NAMESPACE, heartbeat_timeout=15_000)

    @dramatiq.actor(broker=broker, queue_name="q")
    def noted(value: int) -> None:
        pass

    broker.noted = noted
    yield broker
    broker.close()


def _taken(broker) -> set[str]:
    key = f"{NAMESPACE}:__acks__.{broker.broker_id}.q"
    return {member.decode() for member in broker.client.smembers(key)}


def test_an_undecodable_message_is_dead_lettered_and_the_rest_of_its_batch_goes_on(broker):
    client = broker.client
    client.hset(f"{NAMESPACE}:q.msgs", "bad", b"\xffnot a message")
    client.rpush(f"{NAMESPACE}:q", "bad")
    for value in (1, 2):
        broker.noted.send(value)
    consumer = broker.consume("q", prefetch=3, timeout=100)

    got = [next(consumer).args[0], next(consumer).args[0]]

    assert got == [1, 2], "fetched in one batch with it, handed on all the same"
    assert client.zscore(f"{NAMESPACE}:q.XQ", "bad") is not None
    assert client.hget(f"{NAMESPACE}:q.XQ.msgs", "bad") == b"\xffnot a message"
    assert "bad" not in _taken(broker), "no longer held by this worker"


def test_a_redis_that_stops_answering_is_a_lost_connection_not_an_unexpected_error(broker, server):
    consumer = broker.consume("q", prefetch=1, timeout=100)
    server.freeze()
    asked = time.monotonic()
    try:
        with pytest.raises(ConnectionClosed):  # the worker then reconnects, as for a refusal
            next(consumer)
    finally:
        server.thaw()
    assert time.monotonic() - asked < SOCKET_TIMEOUT + 1


def test_closing_gives_back_what_was_fetched_and_not_handed_on(broker):
    for value in (1, 2, 3):
        broker.noted.send(value)
    consumer = broker.consume("q", prefetch=3, timeout=100)
    first = next(consumer)

    consumer.close()

    assert _taken(broker) == {first.options["redis_message_id"]}, "only what was handed on"
    assert broker.client.llen(f"{NAMESPACE}:q") == 2
