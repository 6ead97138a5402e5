"""NotificationEvent v5 (schema id 10) carries send_at, a scheduled send's time: ISO 8601 in the JSON
of `tidings publish` and the gateway, timestamp-millis in Avro. v4 events stay readable (send_at
null: at once), and a send_at not before expires_at is refused, since it could never go out."""
from __future__ import annotations

import io
import json
import struct
from datetime import datetime, timezone

import fastavro
import pytest

from consumer.codec import Codec, LocalSchemas
from consumer.events import NOTIFICATION
from consumer.notification_json import InvalidNotification, notification_from_json
from schemas import SCHEMA_DIR

BASE = {"source": "s", "channels": ["email"], "recipient": {"id": "u1", "email": "ada@example.com"}}


def v4_bytes(record: dict) -> bytes:
    v4 = fastavro.parse_schema(json.loads((SCHEMA_DIR / "notification_event.v4.avsc").read_text()))
    out = io.BytesIO()
    out.write(struct.pack(">bI", 0, 9))
    fastavro.schemaless_writer(out, v4, {k: v for k, v in record.items() if k != "send_at"})
    return out.getvalue()


def test_v5_carries_send_at_from_iso_8601_and_v4_events_read_as_at_once():
    record = notification_from_json({**BASE, "send_at": "2026-12-01T08:30:00+01:00"})
    assert record["send_at"] == datetime(2026, 12, 1, 7, 30, tzinfo=timezone.utc)
    codec = Codec(LocalSchemas())
    encoded = codec.encode(NOTIFICATION, record)
    assert struct.unpack(">I", encoded[1:5])[0] == 11  # v6 since the digests and fallback
    assert codec.decode(NOTIFICATION, encoded)["send_at"] == record["send_at"]
    assert codec.decode(NOTIFICATION, v4_bytes(record))["send_at"] is None
    assert notification_from_json(BASE)["send_at"] is None


@pytest.mark.parametrize("send_at, says", [
    ("tomorrow", "not an ISO 8601 timestamp"), ("2026-12-01T08:30:00", "no timezone"),
    (1764577800, "ISO 8601 timestamp string")])
def test_a_send_at_that_is_not_a_time_with_a_zone_is_refused(send_at, says):
    with pytest.raises(InvalidNotification, match=f"send_at.*{says}|{says}"):
        notification_from_json({**BASE, "send_at": send_at})


def test_a_send_at_not_before_expires_at_is_refused():
    with pytest.raises(InvalidNotification, match="send_at: not before expires_at"):
        notification_from_json({**BASE, "send_at": "2026-12-01T09:00:00Z", "expires_at": "2026-12-01T09:00:00Z"})
    assert notification_from_json({**BASE, "send_at": "2026-12-01T09:00:00Z", "expires_at": "2026-12-01T10:00:00Z"})
