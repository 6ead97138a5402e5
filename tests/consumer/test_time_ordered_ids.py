"""The ids Tidings makes are time-ordered (UUIDv7 layout) and still derived from what they identify:
a redone message gets the same delivery and event ids, before and after the Avro round trip."""
from __future__ import annotations

import datetime as dt
import uuid

from consumer.codec import Codec
from consumer.events import _NAMESPACE, CHANNEL_MESSAGE, delivery_event, delivery_id, new_id, time_ordered_id
from consumer.settings import Settings
from router.fanout import fan_out
from tests.pipeline import make_notifications

AT = dt.datetime(2026, 11, 30, 19, 0, 0, 123456, tzinfo=dt.timezone.utc)


def millis(value: uuid.UUID) -> int:
    return value.int >> 80


def test_an_id_starts_with_its_time_in_milliseconds_and_is_a_uuid7():
    made = uuid.UUID(time_ordered_id(AT, "n/webhook"))
    assert str(made) == time_ordered_id(AT, "n/webhook")  # canonical text
    assert made.version == 7 and made.variant == uuid.RFC_4122
    assert millis(made) == int(AT.timestamp()) * 1000 + 123
    assert time_ordered_id(AT, "n/sms") != str(made)
    assert time_ordered_id(AT.isoformat(), "n/webhook") == str(made)
    # the bits after the time are uuid5's, whatever the name
    for name in ("n/webhook", "", "caf\u00e9/\U0001f600", "x" * 300):
        plain = uuid.uuid5(_NAMESPACE, name)
        assert uuid.UUID(time_ordered_id(AT, name)).int & ((1 << 76) - 1) == plain.int & ((1 << 76) - 1)
    assert time_ordered_id(None, "n/webhook") == str(uuid.uuid5(_NAMESPACE, "n/webhook"))  # no time: the plain uuid5


def test_ids_made_later_sort_after():
    later = AT + dt.timedelta(milliseconds=1)
    assert time_ordered_id(later, "a") > time_ordered_id(AT, "z")
    assert new_id(later) > new_id(AT) and new_id(AT) != new_id(AT)


def test_a_redone_message_gets_the_same_ids_after_the_avro_round_trip():
    (event,) = make_notifications(1, "http://127.0.0.1:9/hook")
    event["created_at"] = AT  # microseconds: the message on the topic carries milliseconds only
    (delivery,) = fan_out(event)
    message = delivery.message
    assert message["delivery_id"] == delivery_id(event["id"], "webhook", AT)
    codec = Codec.from_settings(Settings())
    decoded = codec.decode(CHANNEL_MESSAGE, codec.encode(CHANNEL_MESSAGE, message))
    assert decoded["created_at"] == AT.replace(microsecond=123000)
    first, again = delivery_event(message, "sent", attempt=1), delivery_event(decoded, "sent", attempt=1)
    assert first["event_id"] == again["event_id"]
    assert millis(uuid.UUID(first["event_id"])) == millis(uuid.UUID(message["delivery_id"]))
