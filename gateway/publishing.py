"""Publishing validated notifications from a request: each to the topic of its priority, keyed by
recipient id, answered only once the broker has acknowledged every one of them."""
from __future__ import annotations

import asyncio

from consumer.events import NOTIFICATION, lane
from gateway.errors import ApiError


async def publish(gateway, records: list[dict], origin: str) -> list[dict]:
    """[{id, topic, partition, offset}] in request order; 503 if any write was not acknowledged."""
    topics = [gateway.topics.events(lane(r["priority"])) for r in records]
    futures = [gateway.publisher.publish(topic, gateway.codec.encode(NOTIFICATION, record),
                                         key=record["recipient"]["id"])
               for topic, record in zip(topics, records)]
    results = await asyncio.gather(*futures, return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        # Those acknowledged stay published; a retry with the same Idempotency-Key keeps their ids.
        raise ApiError(503, f"the broker did not acknowledge {len(failed)} of {len(records)} notifications: "
                       f"{failed[0]}", headers={"Retry-After": "5"})
    for record in records:
        gateway.metrics.published.labels(lane(record["priority"]), origin).inc()
    return [{"id": record["id"], "topic": topic, "partition": partition, "offset": offset}
            for record, topic, (partition, offset) in zip(records, topics, results)]
