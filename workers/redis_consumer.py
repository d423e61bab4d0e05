"""Dramatiq's Redis broker with two failures of its consumer handled (fault matrix Q-8, Q-10).

- A Redis that stops answering (frozen, partitioned) raises redis.TimeoutError, which the
  consumer does not take for a lost connection (Dramatiq #894). A consumer thread closing
  after it, with delayed messages in hand (every notification waits in the delay queue for
  NOTIFY_COALESCE_SECONDS, every retry for its backoff), tries to requeue them, fails the
  same way, and dies: from then on that queue's delayed messages in this process wait for
  the sweeper. Here a timeout is a lost connection, as Dramatiq handles a refused one.
- A message that does not decode makes the consumer restart; the messages fetched with it
  stay taken by this live worker until it exits, and the next worker to recover them loops
  on it again. Here it is moved to the queue's dead-letter queue (Dramatiq's nack), logged
  by its id only, and the rest of the batch goes on.
- A consumer closing (the worker stopping for a deploy) leaves the messages it fetched and
  has not yet handed on taken by this worker, until its heartbeat goes stale. Here they are
  given back to the queue, as Dramatiq gives back those waiting for a worker thread.

Built on the broker's own consumer (dramatiq.brokers.redis._RedisConsumer, dramatiq 1.17 to
2.x, like workers/enqueue.py), overriding only what it must."""

import logging

import redis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.errors import ConnectionClosed, DecodeError

log = logging.getLogger(__name__)

#: What redis-py raises when Redis cannot be reached or does not answer in time.
UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)


class Consumer(_RedisConsumer):
    def __next__(self):
        while True:
            try:
                return super().__next__()
            except DecodeError as exc:
                self._set_aside(exc.data)
            except redis.TimeoutError as exc:
                raise ConnectionClosed(exc) from None

    def ack(self, message) -> None:
        try:
            super().ack(message)
        except redis.TimeoutError as exc:  # retried by the worker until Redis answers
            raise ConnectionClosed(exc) from None

    def nack(self, message) -> None:
        try:
            super().nack(message)
        except redis.TimeoutError as exc:
            raise ConnectionClosed(exc) from None

    def requeue(self, messages) -> None:
        try:
            super().requeue(messages)
        except UNREACHABLE as exc:  # what it held stays taken, for the sweeper
            raise ConnectionClosed(exc) from None

    def close(self) -> None:
        cached, self.message_cache = self.message_cache, []
        ids = []
        for data in cached:
            try:
                ids.append(Message.decode(data).options["redis_message_id"])
            except (DecodeError, KeyError, TypeError):
                continue  # no id to give back: it stays taken, as before
        try:
            if ids:
                self.broker.do_requeue(self.queue_name, *ids)
        except UNREACHABLE:
            log.warning("could not give back %d fetched messages on %s", len(ids), self.queue_name)
        super().close()

    def _set_aside(self, data) -> None:
        """Dead-letter the message(s) this consumer holds whose body is `data`."""
        broker = self.broker
        taken = f"{broker.namespace}:__acks__.{broker.broker_id}.{self.queue_name}"
        bodies = f"{broker.namespace}:{self.queue_name}.msgs"
        try:
            ids = [i.decode() for i in broker.client.smembers(taken)]
            held = broker.client.hmget(bodies, ids) if ids else []
            found = [i for i, body in zip(ids, held, strict=True) if body == data]
            for message_id in found:
                broker.do_nack(self.queue_name, message_id)
        except UNREACHABLE as exc:
            raise ConnectionClosed(exc) from None
        for message_id in found:
            log.error(
                "message %s on queue %s cannot be decoded; moved to its dead-letter queue",
                message_id,
                self.queue_name,
            )


class Broker(RedisBroker):
    @property
    def consumer_class(self):
        return Consumer
