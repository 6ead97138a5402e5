"""The push channel end to end: router, `tidings run channel push` and sink as processes, fakes of
FCM (with Google's token endpoint) and APNs (HTTP/2 over TLS) on loopback. An FCM notification is
recorded `sent` with FCM's message name, an APNs device that answers 410 Unregistered is recorded
`suppressed` (device_unregistered), and no key or token reaches the rows or the worker's log."""
from __future__ import annotations

import psycopg

from tests.fixtures.push import APP, apns_token, fcm_token
from tests.pipeline import make_notifications, publish, read_topic, wait_for_statuses


def push_notification(address: str) -> dict:
    [notification] = make_notifications(1, "", channels=("push",))
    notification["recipient"]["addresses"] = {"push": address}
    notification["recipient"]["webhook_url"] = None
    notification["content"] = {"push": {"template": None, "subject": "Order shipped", "text": "A-1 is on its way",
                                        "html": None, "options": '{"data": {"order": "A-1"}}'}}
    return notification


def test_fcm_sends_are_sent_and_a_dead_apns_token_is_suppressed(pipeline, services, fcm, apns):
    env = {f"TIDINGS_{name.upper()}": value for name, value in {**fcm.settings(), **apns.settings()}.items()}
    router, worker, sink = services.start_pipeline("push", **env)
    dead = apns_token()
    apns.dead.add(dead)
    sent = [push_notification(f"fcm:{APP}:{fcm_token()}") for _ in range(2)]
    gone = push_notification(f"apns:{APP}:{dead}")
    publish(pipeline, [*sent, gone])

    wait_for_statuses(pipeline.database_url, [n["id"] for n in sent], timeout=120)
    wait_for_statuses(pipeline.database_url, [gone["id"]], statuses=("suppressed",), timeout=60)
    with psycopg.connect(pipeline.database_url) as conn:
        rows = conn.execute("SELECT notification_id::text, provider, provider_message_id FROM deliveries "
                            "WHERE status = 'sent'").fetchall()
        suppressed = conn.execute("SELECT provider, status_code, reason FROM deliveries WHERE notification_id = %s",
                                  [gone["id"]]).fetchone()
        stored = conn.execute("SELECT (SELECT string_agg(row_to_json(d)::text, ' ') FROM deliveries d) || "
                              "(SELECT string_agg(row_to_json(e)::text, ' ') FROM delivery_events e)").fetchone()[0]
    names = sorted(f"projects/tidings-test/messages/{m}" for m in ("0:1", "0:2"))
    assert sorted(r[2] for r in rows) == names and {r[1] for r in rows} == {"fcm"}
    assert suppressed == ("apns", 410, "device_unregistered")
    assert sorted(m["data"]["order"] for m in fcm.messages) == ["A-1", "A-1"]
    assert [m["notification"] for m in fcm.messages] == [{"title": "Order shipped", "body": "A-1 is on its way"}] * 2
    assert len(fcm.issued) == 1 and apns.requests == 1
    worker_log = worker.log()
    secrets = [*fcm.issued, *apns.provider_tokens, fcm.service_account()["private_key"].splitlines()[3],
               apns.key_pem.splitlines()[2]]
    events = b" ".join(m.value() for m in read_topic(pipeline, f"{pipeline.topic_prefix}.deliveries"))
    status, metrics = worker.get("/metrics")
    assert status == 200 and b"device_unregistered" in events and "tidings_" in metrics
    for secret in secrets:
        assert secret not in stored and secret not in worker_log
        assert secret.encode() not in events and secret not in metrics
