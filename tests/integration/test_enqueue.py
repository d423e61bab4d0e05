"""The relay's pipelined enqueue must hand a real Dramatiq worker exactly what
`actor.send` would: same actor, same arguments, every message once."""

import threading

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from tests.conftest import REDIS_TEST_URL
from workers.enqueue import send_many


@pytest.fixture
def broker():
    client = redis.Redis.from_url(REDIS_TEST_URL)
    client.flushdb()
    broker = RedisBroker(client=client, namespace="enqueue-test", heartbeat_timeout=3000)
    yield broker
    broker.close()
    client.flushdb()


def test_pipelined_messages_are_processed_once_each_by_a_real_worker(broker):
    seen: list[int] = []
    done = threading.Event()

    @dramatiq.actor(broker=broker, queue_name="events")
    def record(value: int) -> None:
        seen.append(value)
        if len(seen) == 250:
            done.set()

    send_many(record, list(range(200)))
    record.send(200)  # the ordinary path, side by side
    send_many(record, list(range(201, 250)))
    worker = dramatiq.Worker(broker, worker_threads=4, worker_timeout=50)
    worker.start()
    try:
        assert done.wait(20), f"only {len(seen)} of 250 messages arrived"
        worker.join()
    finally:
        worker.stop()
    assert sorted(seen) == list(range(250))


def test_a_redis_that_forgot_its_scripts_still_gets_the_batch(broker):
    @dramatiq.actor(broker=broker, queue_name="events")
    def record(value: int) -> None:
        pass

    broker.client.script_flush()  # as after a Redis restart
    send_many(record, [1, 2, 3])
    assert broker.client.llen("enqueue-test:events") == 3
