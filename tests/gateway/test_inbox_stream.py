"""Live inbox updates over Server-Sent Events: a new item reaches a connected client as soon as it
is written (before or within a second of its `sent` record), a resumed stream gets what it missed,
changes made through another gateway process arrive too, and streams are bounded and closed when idle."""
from __future__ import annotations

import time
from datetime import datetime

import psycopg

from tests.gateway.inbox import TENANT_KEYS, EventStream, Feed, feed_token, inbox_notification
from tests.pipeline import wait_for_statuses


def sent_at(database_url: str, notification_id: str) -> datetime:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT occurred_at FROM delivery_events WHERE notification_id = %s AND status = 'sent'",
                            [notification_id]).fetchone()[0]


def test_a_new_item_reaches_a_connected_client_and_a_resumed_stream_gets_what_it_missed(inbox, pipeline):
    gateway, publish = inbox
    live = EventStream(gateway.base, feed_token("fay"))
    assert live.status == 200
    assert live.next("counts")[2] == {"unread": 0, "unseen": 0}
    first = inbox_notification("fay", title="first")
    publish([first])
    _, event_id, item, received = live.next("item")
    assert item["title"] == "first" and event_id == str(item["seq"])
    assert live.next("counts")[2] == {"unread": 1, "unseen": 0 + 1}
    wait_for_statuses(pipeline.database_url, [first["id"]])
    assert received - sent_at(pipeline.database_url, first["id"]).timestamp() < 1.0
    live.close()

    missed = [inbox_notification("fay", title=f"missed {i}") for i in range(2)]
    publish(missed)
    wait_for_statuses(pipeline.database_url, [n["id"] for n in missed])
    resumed = EventStream(gateway.base, feed_token("fay"), last_event_id=event_id)
    titles = {resumed.next("item")[2]["title"], resumed.next("item")[2]["title"]}
    assert titles == {"missed 0", "missed 1"}
    assert resumed.next("counts")[2]["unread"] == 3
    resumed.close()


def test_changes_made_through_another_gateway_process_reach_the_stream(inbox, pipeline, start_gateway):
    gateway, publish = inbox
    other = start_gateway(inapp_tenant_keys=TENANT_KEYS)  # a second gateway: its own LISTEN connection
    note = inbox_notification("gus", title="shared")
    publish([note])
    wait_for_statuses(pipeline.database_url, [note["id"]])
    live = EventStream(gateway.base, feed_token("gus"))
    assert live.next("counts")[2]["unread"] == 1
    [item] = Feed(other.base, feed_token("gus")).items()["items"]
    assert Feed(other.base, feed_token("gus")).mark(item["id"], "read").status_code == 200
    assert live.next("state")[2]["read_at"] is not None
    assert live.next("counts")[2]["unread"] == 0
    live.close()


def test_streams_are_bounded_per_recipient_and_in_total(services, start_gateway, pipeline):
    gateway = start_gateway(inapp_tenant_keys=TENANT_KEYS, inapp_stream_max_per_recipient=2, inapp_stream_max_total=3,
                            inapp_stream_keepalive_s=0.5)  # a keepalive write tells the server a client left
    hal = [EventStream(gateway.base, feed_token("hal")) for _ in range(2)]
    assert [s.status for s in hal] == [200, 200]
    third = EventStream(gateway.base, feed_token("hal"))
    assert third.status == 429 and third.ended.wait(10)
    ivy = EventStream(gateway.base, feed_token("ivy"))
    assert ivy.status == 200
    assert EventStream(gateway.base, feed_token("jo")).status == 429  # three open in all
    hal[0].close()
    assert hal[0].ended.wait(10)
    # The closed stream's place is free again (the server notices the client went away).
    deadline = time.monotonic() + 30
    while (again := EventStream(gateway.base, feed_token("jo"))).status != 200:
        assert time.monotonic() < deadline, "a closed stream still counts"
        time.sleep(0.2)
    assert 'tidings_inbox_streams_refused_total 2.0' in gateway.http.get("/metrics").text
    for stream in (hal[1], ivy, again):
        stream.close()


def test_an_idle_stream_is_closed_cleanly_after_keepalives(services, start_gateway, pipeline):
    gateway = start_gateway(inapp_tenant_keys=TENANT_KEYS, inapp_stream_keepalive_s=0.2, inapp_stream_idle_s=1.0)
    quiet = EventStream(gateway.base, feed_token("kim"))
    assert quiet.status == 200 and quiet.next("counts")
    assert quiet.ended.wait(20), "an idle stream stays open"
    assert gateway.http.get("/v1/inbox/stream").status_code == 401  # no token, no stream


def test_a_stream_keeps_its_items_when_the_gateways_listening_connection_is_cut(inbox, pipeline):
    gateway, publish = inbox
    live = EventStream(gateway.base, feed_token("lou"))
    assert live.next("counts")[2]["unread"] == 0
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        cut = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND query LIKE 'LISTEN%%'").fetchall()
    assert cut == [(True,)]
    note = inbox_notification("lou", title="after the cut")
    publish([note])
    assert live.next("item")[2]["title"] == "after the cut"  # listened again, or resynced from Postgres
    live.close()
