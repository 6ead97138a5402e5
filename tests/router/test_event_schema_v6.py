"""NotificationEvent v6 (schema id 11) carries a digest (key and window) and a channel fallback
(steps of channel, wait and goal): durations in the JSON of `tidings publish` and the gateway,
milliseconds in Avro. v5 events stay readable (no digest, no fallback), and a fallback that
cannot be followed is refused with the field that is wrong."""
from __future__ import annotations

import io
import json
import struct

import fastavro
import pytest

from consumer.codec import Codec, LocalSchemas
from consumer.events import NOTIFICATION
from consumer.notification_json import InvalidNotification, notification_from_json
from schemas import SCHEMA_DIR

BASE = {"source": "s", "channels": ["inapp"], "recipient": {"id": "u1"}}


def v5_bytes(record: dict) -> bytes:
    v5 = fastavro.parse_schema(json.loads((SCHEMA_DIR / "notification_event.v5.avsc").read_text()))
    out = io.BytesIO()
    out.write(struct.pack(">bI", 0, 10))
    fastavro.schemaless_writer(out, v5, {k: v for k, v in record.items() if k not in ("digest", "fallback")})
    return out.getvalue()


def test_v6_carries_digest_and_fallback_and_v5_events_read_without_them():
    record = notification_from_json({**BASE, "digest": {"key": "comments", "window": "10m"},
                                     "fallback": [{"channel": "email", "after": "15m", "unless": "read"},
                                                  {"channel": "sms", "after": "1h"}]})
    assert record["digest"] == {"key": "comments", "window_ms": 600_000}
    assert record["fallback"] == [{"channel": "email", "after_ms": 900_000, "unless": "read"},
                                  {"channel": "sms", "after_ms": 3_600_000, "unless": "sent"}]
    codec = Codec(LocalSchemas())
    encoded = codec.encode(NOTIFICATION, record)
    assert struct.unpack(">I", encoded[1:5])[0] == 11
    decoded = codec.decode(NOTIFICATION, encoded)
    assert (decoded["digest"], decoded["fallback"]) == (record["digest"], record["fallback"])
    old = codec.decode(NOTIFICATION, v5_bytes(record))
    assert (old["digest"], old["fallback"]) == (None, [])


@pytest.mark.parametrize("extra, says", [
    ({"fallback": [{"channel": "email", "after": "0s"}]}, r"fallback\[0\].after: '0s': between 1s and 7d"),
    ({"fallback": [{"channel": "inapp", "after": "1m"}]}, r"fallback\[0\].channel: 'inapp' is already a step"),
    ({"fallback": [{"channel": "fax", "after": "1m"}]}, r"fallback\[0\].channel: 'fax' is not a channel name"),
    ({"channels": ["inapp", "sms"], "fallback": [{"channel": "email", "after": "1m"}]}, "exactly one channel"),
    ({"fallback": [{"channel": "email", "after": "1m", "unless": "opened"}]}, "unless"),
    ({"digest": {"key": "x", "window": "forever"}}, "digest.window: 'forever' is not a duration"),
    ({"digest": {"window": "10m"}}, "digest.key")])
def test_a_digest_or_fallback_that_cannot_be_followed_is_refused(extra, says):
    with pytest.raises(InvalidNotification, match=says):
        notification_from_json({**BASE, **extra})
