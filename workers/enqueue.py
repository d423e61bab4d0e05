"""Enqueue many messages in one round trip. Dramatiq sends one Redis command per message;
the receiver's relay hands over a whole committed batch at once, so it pipelines them.

This calls the RedisBroker's own `dispatch` script with the arguments its `enqueue` passes
(dramatiq 1.17 to 2.x), so the worker side sees exactly what `actor.send` would have sent.
"""

from uuid import uuid4

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis
from redis.exceptions import NoScriptError


def send_many(actor: dramatiq.Actor, args: list[int]) -> None:
    broker = actor.broker
    if not isinstance(broker, RedisBroker):
        for arg in args:
            actor.send(arg)
        return
    try:
        _pipelined(broker, actor, args)
    except NoScriptError:  # Redis restarted and forgot the script: load it, try once more
        broker.client.script_load(broker.scripts["dispatch"].script)
        _pipelined(broker, actor, args)


def _pipelined(broker: RedisBroker, actor: dramatiq.Actor, args: list[int]) -> None:
    # EVALSHA straight on the pipeline: redis-py's Script would first ask SCRIPT EXISTS.
    sha = broker.scripts["dispatch"].sha
    pipe = broker.client.pipeline(transaction=False)
    for arg in args:
        message = actor.message(arg).copy(options={"redis_message_id": str(uuid4())})
        broker.emit_before("enqueue", message, None)
        pipe.evalsha(
            sha,
            1,
            broker.namespace,
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
        )
    pipe.execute()
