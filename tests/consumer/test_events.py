"""Stable ids of deliveries and delivery events."""
import uuid

from consumer.events import _NAMESPACE, delivery_event, delivery_id, uuid5_text


def test_ids_are_the_rfc_4122_name_based_uuids_they_always_were():
    for name in ("", "a", "6f1c2a52-6a44-4e0e-9d1f-3b1f5b0e7a10/sent/1", "ünïcødé/webhook", "x" * 500):
        assert uuid5_text(_NAMESPACE, name) == str(uuid.uuid5(_NAMESPACE, name))
    notification = uuid.uuid4()
    assert delivery_id(notification, "sms") == str(uuid.uuid5(_NAMESPACE, f"{notification}/sms"))


def test_an_event_id_is_the_same_for_uuid_and_text_ids():
    ids = {"delivery_id": uuid.uuid4(), "notification_id": uuid.uuid4()}
    message = {**ids, "channel": "webhook", "priority": "NORMAL", "attempt": 2, "replay": 1}
    as_text = {**message, **{k: str(v) for k, v in ids.items()}}
    one, other = delivery_event(message, "sent"), delivery_event(as_text, "sent")
    assert one["event_id"] == other["event_id"] == str(uuid.uuid5(_NAMESPACE, f"{ids['delivery_id']}/sent/2/replay-1"))
    assert one["delivery_id"] == other["delivery_id"] == str(ids["delivery_id"])
