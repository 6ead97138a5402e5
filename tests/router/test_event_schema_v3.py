"""NotificationEvent v3 (schema id 8) adds recipient.timezone; v2 producers' events stay readable."""
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


def test_v2_bytes_read_with_no_timezone_and_v3_carries_it():
    record = notification_from_json({"source": "s", "channels": ["sms"],
                                     "recipient": {"id": "u1", "timezone": "Europe/Lisbon"}})
    codec = Codec(LocalSchemas())
    encoded = codec.encode(NOTIFICATION, record)
    assert struct.unpack(">I", encoded[1:5])[0] == 11  # v6 is the current schema since issue 19
    assert codec.decode(NOTIFICATION, encoded)["recipient"]["timezone"] == "Europe/Lisbon"

    v2 = fastavro.parse_schema(json.loads((SCHEMA_DIR / "notification_event.v2.avsc").read_text()))
    old = {**record, "recipient": {k: v for k, v in record["recipient"].items() if k != "timezone"}}
    out = io.BytesIO()
    out.write(struct.pack(">bI", 0, 6))
    fastavro.schemaless_writer(out, v2, old)
    decoded = codec.decode(NOTIFICATION, out.getvalue())
    assert decoded["recipient"]["id"] == "u1" and decoded["recipient"]["timezone"] is None


def test_an_unknown_timezone_is_refused_with_the_field():
    with pytest.raises(InvalidNotification, match="recipient.timezone"):
        notification_from_json({"source": "s", "channels": ["sms"], "recipient": {"id": "u1", "timezone": "Mars/Base"}})
