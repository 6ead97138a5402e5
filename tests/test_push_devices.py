"""A recipient's devices, end to end: three devices in the directory (two on FCM, one on APNs that
Apple says is gone) and one push notification with no address of its own. Each device gets its own
delivery, the FCM ones are `sent`, the gone one is `suppressed` (device_unregistered) and forgotten
by the worker, so the next notification goes to the two that are left."""
from __future__ import annotations

import time

import psycopg

from router.devices import DeviceDirectory
from tests.fixtures.push import APP, apns_token, fcm_token
from tests.pipeline import make_notifications, publish


def to_devices(recipient_id: str) -> dict:
    [notification] = make_notifications(1, "", channels=("push",))
    notification["recipient"] = {**notification["recipient"], "id": recipient_id, "addresses": {}, "webhook_url": None}
    notification["content"] = {"push": {"template": None, "subject": "Order shipped", "text": "A-1 is on its way",
                                        "html": None, "options": "{}"}}
    return notification


def deliveries(database_url: str, notification_id: str, count: int, timeout: float = 120) -> list[tuple]:
    """(address-free) provider, status, reason of the notification's deliveries once all `count` are final."""
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(database_url) as conn:
            rows = conn.execute("SELECT provider, status, reason FROM deliveries WHERE notification_id = %s"
                                " ORDER BY provider, status", [notification_id]).fetchall()
        if len(rows) == count and all(r[1] in ("sent", "suppressed") for r in rows):
            return rows
        assert time.monotonic() < deadline, f"deliveries of {notification_id}: {rows}"
        time.sleep(0.25)


def test_one_delivery_per_device_and_a_gone_device_is_forgotten(pipeline, services, fcm, apns):
    env = {f"TIDINGS_{name.upper()}": value for name, value in {**fcm.settings(), **apns.settings()}.items()}
    services.start_pipeline("push", **env)
    dead = apns_token()
    apns.dead.add(dead)
    phone, tablet = fcm_token(), fcm_token()
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        devices = DeviceDirectory(conn)
        for address in (f"fcm:{APP}:{phone}", f"fcm:{APP}:{tablet}", f"apns:{APP}:{dead.upper()}"):
            devices.add("ada", "push", address)
        devices.add("bob", "push", f"fcm:{APP}:{fcm_token()}")  # someone else's: not sent to

    first = to_devices("ada")
    publish(pipeline, [first])
    assert deliveries(pipeline.database_url, first["id"], 3) == [
        ("apns", "suppressed", "device_unregistered"), ("fcm", "sent", None), ("fcm", "sent", None)]
    assert sorted(m["token"] for m in fcm.messages) == sorted([phone, tablet])
    deadline = time.monotonic() + 30
    while True:  # the worker forgets the device as it records the outcome
        with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
            left = [d["address"] for d in DeviceDirectory(conn).list("ada")]
        if len(left) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sorted(left) == sorted([f"fcm:{APP}:{phone}", f"fcm:{APP}:{tablet}"])

    second = to_devices("ada")
    publish(pipeline, [second])
    assert deliveries(pipeline.database_url, second["id"], 2) == [("fcm", "sent", None), ("fcm", "sent", None)]
    assert apns.requests == 1 and len(fcm.messages) == 4


def test_a_recipient_without_devices_or_an_address_is_suppressed_as_no_address(pipeline, services, fcm):
    env = {f"TIDINGS_{name.upper()}": value for name, value in fcm.settings().items()}
    services.start_pipeline("push", **env)
    lonely = to_devices("carol")
    publish(pipeline, [lonely])
    assert deliveries(pipeline.database_url, lonely["id"], 1) == [(None, "suppressed", "no_address")]
    assert fcm.messages == []
