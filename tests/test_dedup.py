"""Deduplication on the real broker and Postgres: an event id or idempotency key seen before is
not delivered twice, also after the router restarts; each duplicate records `suppressed`
(reason `duplicate`) and counts in tidings_duplicates_total."""
from __future__ import annotations

import time
import uuid

import psycopg

from consumer.events import delivery_id
from tests.pipeline import make_notifications, publish, wait_for_statuses
from tests.records import events_of, wait_for_events


def test_duplicates_are_suppressed_also_after_a_router_restart(pipeline, services, webhook_receiver):
    router, _, _ = services.start_pipeline()
    first, keyed = make_notifications(2, webhook_receiver.url)
    keyed["idempotency_key"] = "invoice-INV-7"
    publish(pipeline, [first, keyed])
    wait_for_statuses(pipeline.database_url, [first["id"], keyed["id"]])

    same_key = {**make_notifications(1, webhook_receiver.url)[0], "idempotency_key": "invoice-INV-7",
                "source": keyed["source"], "tenant": keyed["tenant"]}
    other_source = {**same_key, "id": str(uuid.uuid4()), "source": "another-app"}  # keys are per source
    publish(pipeline, [first, same_key, other_source])  # `first` again: a producer's retry
    wait_for_events(pipeline.database_url, first["id"], "suppressed")
    (dup,) = [e for e in events_of(pipeline.database_url, same_key["id"])]
    assert dup[:3] == ("suppressed", "router", "duplicate")
    wait_for_statuses(pipeline.database_url, [other_source["id"]])
    assert router.metric("tidings_duplicates_total") == 2

    router.terminate()
    restarted = services.start("run", "router")
    publish(pipeline, [first, {**same_key, "id": str(uuid.uuid4())}])
    wait_for_events(pipeline.database_url, first["id"], "suppressed", count=2)
    deadline = time.monotonic() + 60
    while restarted.metric("tidings_duplicates_total") < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert restarted.metric("tidings_duplicates_total") == 2

    received = webhook_receiver.notification_ids()
    assert received == {first["id"]: 1, keyed["id"]: 1, other_source["id"]: 1}
    # The original delivery keeps its status; each copy is recorded beside it under its own delivery id.
    with psycopg.connect(pipeline.database_url) as conn:
        rows = conn.execute("SELECT delivery_id::text, status FROM deliveries WHERE notification_id = %s",
                            [first["id"]]).fetchall()
    assert sorted(status for _, status in rows) == ["sent", "suppressed", "suppressed"]
    assert dict(rows)[delivery_id(first["id"], "webhook", first["created_at"])] == "sent"
