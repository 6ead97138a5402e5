"""The Avro contract: Confluent framing, the local id map, schema evolution and the registry."""
from __future__ import annotations

import io
import json
import shutil
import struct
from pathlib import Path

import fastavro
import pytest
from aiohttp import web

from consumer.codec import Codec, DecodeError, LocalSchemas, RegistrySchemas
from consumer.events import DELIVERY, NOTIFICATION
from schemas import SCHEMA_DIR
from tests.fixtures.loopback import LoopbackServer
from tests.pipeline import make_notifications

NEXT = Path(__file__).resolve().parents[1] / "schemas" / "notification_event.next.avsc"


def test_framing_is_magic_zero_then_the_schema_id_from_the_id_map():
    codec = Codec(LocalSchemas())
    data = codec.encode(NOTIFICATION, make_notifications(1, "http://x/")[0])
    ids = json.loads((SCHEMA_DIR / "ids.json").read_text())["schemas"]
    assert data[0] == 0
    (schema_id,) = struct.unpack(">I", data[1:5])
    newest = max((int(k) for k, f in ids.items() if f.startswith("notification_event.")))
    assert schema_id == newest


def test_round_trip_keeps_every_field():
    codec = Codec(LocalSchemas())
    original = make_notifications(1, "http://x/")[0]
    original["expires_at"] = original["created_at"]
    original["idempotency_key"] = "k-1"
    decoded = codec.decode(NOTIFICATION, codec.encode(NOTIFICATION, original))
    assert str(decoded["id"]) == original["id"]
    assert decoded["recipient"]["webhook_url"] == "http://x/"
    assert decoded["content"]["default"]["text"] == "hello 0"
    assert json.loads(decoded["data"]) == json.loads(original["data"])
    assert decoded["expires_at"] == original["created_at"].replace(microsecond=original["created_at"].microsecond // 1000 * 1000)
    assert decoded["idempotency_key"] == "k-1"


def _directory_with_next(tmp_path: Path) -> Path:
    directory = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, directory, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    shutil.copy(NEXT, directory / "notification_event.next.avsc")
    index = json.loads((directory / "ids.json").read_text())
    index["schemas"]["100"] = "notification_event.next.avsc"
    (directory / "ids.json").write_text(json.dumps(index))
    return directory


def v1_bytes(record: dict) -> bytes:
    """A NotificationEvent exactly as a v1 producer in any language writes it (schema id 1)."""
    schema = fastavro.parse_schema(json.loads((SCHEMA_DIR / "notification_event.v1.avsc").read_text()))
    out = io.BytesIO()
    out.write(struct.pack(">bI", 0, 1))
    fastavro.schemaless_writer(out, schema, record)
    return out.getvalue()


def test_a_newer_reader_schema_reads_a_v1_event(tmp_path):
    record = make_notifications(1, "http://x/")[0]
    old = v1_bytes(record)
    current = Codec(LocalSchemas()).decode(NOTIFICATION, old)
    assert current["content"]["default"]["options"] == "{}"  # v2's new field, from its default
    newer = Codec(LocalSchemas(_directory_with_next(tmp_path)))
    assert newer.schemas.id_for(NOTIFICATION) == 100
    decoded = newer.decode(NOTIFICATION, old)
    assert decoded["thread_key"] is None and decoded["labels"] == []  # defaults of the new fields
    assert decoded["source"] == "tests" and decoded["recipient"]["webhook_url"] == "http://x/"
    # and the newer writer's events carry the new id and the new fields
    event = {**decoded, "thread_key": "t-9", "labels": ["a"]}
    newer_bytes = newer.encode(NOTIFICATION, event)
    assert struct.unpack(">I", newer_bytes[1:5])[0] == 100
    assert newer.decode(NOTIFICATION, newer_bytes)["thread_key"] == "t-9"


@pytest.mark.parametrize("data, reason", [
    (b"", "too short"),
    (b"\x01\x00\x00\x00\x01abc", "bad magic byte"),
    (b"\x00\x00\x00\x03\xe7abc", "unknown schema id 999"),
    (b"\x00\x00\x00\x00\x02abc", "is a tidings.DeliveryEvent"),
    (b"\x00\x00\x00\x00\x01\xff\xff\xff", "invalid Avro body"),
])
def test_undecodable_input_raises_a_decode_error_that_says_why(data, reason):
    with pytest.raises(DecodeError, match=reason):
        Codec(LocalSchemas()).decode(NOTIFICATION, data)


def test_encoding_an_invalid_record_fails_loudly():
    record = make_notifications(1, "http://x/")[0]
    del record["source"]
    with pytest.raises(Exception):
        Codec(LocalSchemas()).encode(NOTIFICATION, record)


class FakeRegistry(LoopbackServer):
    """Speaks the two Confluent Schema Registry calls the codec uses:
    POST /subjects/{subject}/versions and GET /schemas/ids/{id}."""

    def __init__(self) -> None:
        self.schemas: dict[int, str] = {}
        self.subjects: dict[str, int] = {}
        super().__init__()
        self.url = self.base

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/subjects/{subject}/versions", self._register)
        router.add_get("/schemas/ids/{id}", self._by_id)

    async def _register(self, request: web.Request) -> web.Response:
        body = await request.json()
        assert body.get("schemaType", "AVRO") == "AVRO"
        key = request.match_info["subject"] + body["schema"]
        if key not in self.subjects:
            self.subjects[key] = 100 + len(self.schemas)
            self.schemas[self.subjects[key]] = body["schema"]
        return web.json_response({"id": self.subjects[key]})

    async def _by_id(self, request: web.Request) -> web.Response:
        schema_id = int(request.match_info["id"])
        if schema_id not in self.schemas:
            return web.json_response({"error_code": 40403, "message": "Schema not found"}, status=404)
        return web.json_response({"schema": self.schemas[schema_id]})


@pytest.fixture
def registry():
    fake = FakeRegistry()
    yield fake
    fake.close()


def test_with_a_registry_ids_come_from_the_registry(registry):
    writer = Codec(RegistrySchemas(registry.url))
    data = writer.encode(NOTIFICATION, make_notifications(1, "http://x/")[0])
    schema_id = struct.unpack(">I", data[1:5])[0]
    assert schema_id >= 100 and registry.schemas[schema_id]  # the registry's id, not the local map's
    assert "NotificationEvent" in json.loads(registry.schemas[schema_id])["name"]
    reader = Codec(RegistrySchemas(registry.url))
    assert reader.decode(NOTIFICATION, data)["source"] == "tests"
    with pytest.raises(DecodeError, match="not found in registry"):
        reader.decode(DELIVERY, b"\x00\x00\x00\x27\x0f" + b"\x00" * 8)
