"""The flat-record writer and reader write and read exactly what fastavro does, and leave to fastavro
what they do not take."""
from __future__ import annotations

import io
import random
import struct
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import fastavro
import pytest

from consumer.codec import Codec, DecodeError, LocalSchemas
from consumer.events import CHANNEL_MESSAGE, DELIVERY, NOTIFICATION
from consumer.flat_reader import compile_reader
from consumer.flat_writer import compile_writer

SCHEMAS = LocalSchemas()


def fastavro_bytes(name: str, record: dict) -> bytes:
    out = io.BytesIO()
    out.write(struct.pack(">bI", 0, SCHEMAS.id_for(name)))
    fastavro.schemaless_writer(out, SCHEMAS.current(name), record)
    return out.getvalue()


def value_for(kind, rng: random.Random):
    """A random value a field of this (non-union) type takes."""
    if isinstance(kind, dict):
        if kind.get("logicalType") == "uuid":
            return rng.choice([uuid.UUID(int=rng.getrandbits(128)), str(uuid.UUID(int=rng.getrandbits(128)))])
        if kind.get("logicalType") == "timestamp-millis":
            moment = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=rng.randint(-2**50, 2**52))
            zone = timezone(timedelta(minutes=rng.choice([0, 330, -480])))
            return rng.choice([moment, moment.astimezone(zone), rng.randint(-2**45, 2**45)])
        if kind.get("type") == "enum":
            return rng.choice(kind["symbols"])
        if kind.get("logicalType") == "decimal":
            return Decimal(rng.randint(-10**12, 10**12)).scaleb(-6)
        kind = kind["type"]
    if kind == "string":
        return "".join(rng.choice("aé漢🙂 -\n") for _ in range(rng.choice([0, 1, 63, 64, 200])))
    if kind in ("int", "long"):
        bound = 2**31 - 1 if kind == "int" else 2**63 - 1
        return rng.choice([0, 1, -1, 63, 64, -64, -65, bound, -bound - 1, rng.randint(-bound - 1, bound)])
    raise AssertionError(kind)


def random_record(name: str, rng: random.Random, decimals: bool = True) -> dict:
    record = {}
    for field in SCHEMAS.current(name)["fields"]:
        kind = field["type"]
        if isinstance(kind, list):
            if rng.random() < 0.3:
                if rng.random() < 0.5:
                    record[field["name"]] = None
                continue  # missing: written as its default (null)
            kind = next(k for k in kind if k != "null")
            if not decimals and isinstance(kind, dict) and kind.get("logicalType") == "decimal":
                continue
        record[field["name"]] = value_for(kind, rng)
    return record


@pytest.mark.parametrize("name", [DELIVERY, CHANNEL_MESSAGE])
def test_the_codec_writes_the_bytes_fastavro_writes(name):
    rng, codec = random.Random(7), Codec(SCHEMAS)
    writer = compile_writer(SCHEMAS.current(name), struct.pack(">bI", 0, SCHEMAS.id_for(name)))
    for _ in range(500):
        record = random_record(name, rng, decimals=False)
        assert writer(record) == codec.encode(name, record) == fastavro_bytes(name, record)


@pytest.mark.parametrize("name, change", [
    (CHANNEL_MESSAGE, {"attempt": True}),                            # a bool for an int
    (DELIVERY, {"occurred_at": datetime(2026, 1, 2, 3, 4, 5, 678901)}),  # naive: fastavro reads it as local time
    (DELIVERY, {"cost": Decimal("0.0075")}),                         # decimals are fastavro's
    (CHANNEL_MESSAGE, {"attempt": 2**40}),                           # beyond an int: as fastavro does
])
def test_what_the_flat_writer_does_not_take_is_written_by_fastavro(name, change):
    record = {**random_record(name, random.Random(1)), **change}
    assert Codec(SCHEMAS).encode(name, record) == fastavro_bytes(name, record)


@pytest.mark.parametrize("name, change", [
    (CHANNEL_MESSAGE, {"channel": None}), (CHANNEL_MESSAGE, {"channel": 5}), (CHANNEL_MESSAGE, {"priority": "SOON"}),
    (CHANNEL_MESSAGE, {"subject": b"bytes"}), (DELIVERY, {"latency_ms": True}), (DELIVERY, {"status_code": 2**40}),
])
def test_a_record_fastavro_refuses_is_still_refused(name, change):
    record = {**random_record(name, random.Random(2)), **change}
    with pytest.raises(Exception) as by_fastavro:
        fastavro_bytes(name, record)
    with pytest.raises(type(by_fastavro.value)):
        Codec(SCHEMAS).encode(name, record)


def test_records_with_nested_types_are_left_to_fastavro():
    assert compile_writer(SCHEMAS.current(NOTIFICATION)) is None
    assert compile_reader(SCHEMAS.current(NOTIFICATION)) is None
    assert compile_writer(SCHEMAS.current(DELIVERY)) is not None
    assert compile_reader(SCHEMAS.current(DELIVERY)) is not None


def fastavro_record(name: str, data: bytes) -> dict:
    return fastavro.schemaless_reader(io.BytesIO(data[5:]), SCHEMAS.current(name), None)


@pytest.mark.parametrize("name", [DELIVERY, CHANNEL_MESSAGE])
def test_the_codec_reads_what_fastavro_reads(name):
    rng, codec = random.Random(11), Codec(SCHEMAS)
    reader, text_reader = compile_reader(SCHEMAS.current(name)), compile_reader(SCHEMAS.current(name), uuid_text=True)
    for _ in range(500):
        data = fastavro_bytes(name, random_record(name, rng))
        expected = fastavro_record(name, data)
        as_text = {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in expected.items()}
        assert codec.decode(name, data) == expected
        assert codec.decode(name, data, uuid_text=True) == as_text
        if expected.get("cost") is None:  # decimals are fastavro's to read
            assert reader(data, 5) == expected and text_reader(data, 5) == as_text
        assert any(isinstance(v, uuid.UUID) for v in expected.values())


def test_bytes_cut_short_anywhere_are_undecodable_or_read_as_fastavro_reads_them():
    codec = Codec(SCHEMAS)
    data = fastavro_bytes(CHANNEL_MESSAGE, random_record(CHANNEL_MESSAGE, random.Random(3)))
    for end in range(5, len(data)):
        try:
            expected = fastavro_record(CHANNEL_MESSAGE, data[:end])
        except Exception:
            with pytest.raises(DecodeError):
                codec.decode(CHANNEL_MESSAGE, data[:end])
        else:
            assert codec.decode(CHANNEL_MESSAGE, data[:end]) == expected


def test_uuid_text_is_canonical_and_a_malformed_uuid_is_undecodable():
    codec, record = Codec(SCHEMAS), random_record(CHANNEL_MESSAGE, random.Random(4))
    loud = str(uuid.uuid4()).upper()
    data = fastavro_bytes(CHANNEL_MESSAGE, {**record, "delivery_id": loud})
    assert codec.decode(CHANNEL_MESSAGE, data, uuid_text=True)["delivery_id"] == loud.lower()
    assert codec.decode(CHANNEL_MESSAGE, data)["delivery_id"] == uuid.UUID(loud)
    bad = fastavro_bytes(CHANNEL_MESSAGE, {**record, "delivery_id": "not-a-uuid"})
    for uuid_text in (False, True):
        with pytest.raises(DecodeError):
            codec.decode(CHANNEL_MESSAGE, bad, uuid_text=uuid_text)


def test_an_enum_index_past_the_symbols_is_undecodable():
    record = {**random_record(CHANNEL_MESSAGE, random.Random(5)), "channel": "webhook", "priority": "URGENT"}
    data = bytearray(fastavro_bytes(CHANNEL_MESSAGE, record))
    at = 5 + 2 * 37 + 1 + len("webhook")  # framing, two uuids, the channel: then the priority's index
    assert data[at] == 0  # URGENT
    data[at] = 2 * 4  # the fifth of four symbols
    with pytest.raises(DecodeError):
        Codec(SCHEMAS).decode(CHANNEL_MESSAGE, bytes(data))


def test_a_notification_read_with_uuid_text_has_the_canonical_id_and_the_rest_as_fastavro_reads_it():
    from bench.testbed import notification  # a whole event: recipient, content, data

    codec = Codec(SCHEMAS)
    event = notification(7, "https://example.com/hook")
    for written in (str(event["id"]).upper(), str(event["id"])):
        data = codec.encode(NOTIFICATION, {**event, "id": written})
        expected = fastavro_record(NOTIFICATION, data)
        assert codec.decode(NOTIFICATION, data, uuid_text=True) == {**expected, "id": written.lower()}
    bad = fastavro_bytes(NOTIFICATION, {**event, "id": "not-a-uuid"})
    for uuid_text in (False, True):
        with pytest.raises(DecodeError):
            codec.decode(NOTIFICATION, bad, uuid_text=uuid_text)
