"""Enqueue many messages in one round trip. Dramatiq sends one Redis command per message;
the receiver's relay hands over a whole committed batch at once, so it pipelines them.

This calls the RedisBroker's own `dispatch` script with the arguments its `enqueue` passes
(dramatiq 1.17 to 2.x), so the worker side sees exactly what `actor.send` would have sent.
"""

from uuid import uuid4

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis


def send_many(actor: dramatiq.Actor, args: list[int]) -> None:
    broker = actor.broker
    if not isinstance(broker, RedisBroker):
        for arg in args:
            actor.send(arg)
        return
    script = broker.scripts["dispatch"]
    pipe = broker.client.pipeline(transaction=False)
    for arg in args:
        message = actor.message(arg).copy(options={"redis_message_id": str(uuid4())})
        broker.emit_before("enqueue", message, None)
        script(
            keys=[broker.namespace],
            args=[
                "enqueue",
                current_millis(),
                message.queue_name,
                broker.broker_id,
                broker.heartbeat_timeout,
                broker.dead_message_ttl,
                0,  # no maintenance draw on a producer's enqueue
                broker._max_unpack_size(),
                message.options["redis_message_id"],
                message.encode(),
            ],
            client=pipe,
        )
    pipe.execute()
