"""Avro codec with Confluent framing (magic byte 0, 4-byte big-endian schema id, Avro binary).

Schema ids come from a Confluent-compatible registry when one is configured, otherwise from
schemas/ids.json, so a producer in any language can publish with only the .avsc files. Flat records
(ChannelMessage, DeliveryEvent) go through writers and readers compiled for their schema
(consumer/flat_writer.py, flat_reader.py), with fastavro for everything those leave to it."""
from __future__ import annotations

import io
import json
import struct
import uuid
from pathlib import Path
from typing import Any

import fastavro

from consumer.flat_reader import canonical_uuid_text, compile_reader
from consumer.flat_writer import compile_writer
from schemas import SCHEMA_DIR

MAGIC = 0
_HEADER = struct.Struct(">bI")


class DecodeError(ValueError):
    """Bytes that are not a valid framed Avro record of the expected type."""


def _parse(schema_json: dict) -> Any:
    return fastavro.parse_schema(schema_json, named_schemas={})


class LocalSchemas:
    """Schema ids from an ids.json map; the current schema of a record is its highest id."""

    def __init__(self, directory: Path = SCHEMA_DIR):
        index = json.loads((directory / "ids.json").read_text())
        self._by_id: dict[int, Any] = {}
        self._current: dict[str, int] = {}
        for key, filename in sorted(index["schemas"].items(), key=lambda kv: int(kv[0])):
            schema_id = int(key)
            parsed = _parse(json.loads((directory / filename).read_text()))
            self._by_id[schema_id] = parsed
            self._current[parsed["name"]] = schema_id

    def id_for(self, name: str) -> int:
        try:
            return self._current[name]
        except KeyError:
            raise KeyError(f"no schema for record {name!r}") from None

    def current(self, name: str) -> Any:
        return self._by_id[self.id_for(name)]

    def by_id(self, schema_id: int) -> Any:
        try:
            return self._by_id[schema_id]
        except KeyError:
            raise DecodeError(f"unknown schema id {schema_id}") from None


class RegistrySchemas:
    """Ids from a Confluent-compatible schema registry (subject = record full name).

    The local current schemas are registered once at start; ids of other writers' schemas are
    fetched on first sight and cached."""

    def __init__(self, url: str, local: LocalSchemas | None = None):
        from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

        self._client = SchemaRegistryClient({"url": url})
        self._local = local or LocalSchemas()
        self._ids: dict[str, int] = {}
        self._by_id: dict[int, Any] = {}
        for name in self._local._current:
            parsed = self._local.current(name)
            text = json.dumps(_strip_parsed(parsed))
            schema_id = self._client.register_schema(name, Schema(text, "AVRO"))
            self._ids[name] = schema_id
            self._by_id[schema_id] = parsed

    def id_for(self, name: str) -> int:
        return self._ids[name]

    def current(self, name: str) -> Any:
        return self._local.current(name)

    def by_id(self, schema_id: int) -> Any:
        if schema_id not in self._by_id:
            try:
                schema = self._client.get_schema(schema_id)
            except Exception as exc:  # the registry's own error types vary by version
                raise DecodeError(f"schema id {schema_id} not found in registry: {exc}") from None
            self._by_id[schema_id] = _parse(json.loads(schema.schema_str))
        return self._by_id[schema_id]


def _strip_parsed(parsed: dict) -> dict:
    """fastavro adds private keys (__fastavro_parsed, __named_schemas) to parsed schemas."""
    if isinstance(parsed, dict):
        return {k: _strip_parsed(v) for k, v in parsed.items() if not k.startswith("__")}
    if isinstance(parsed, list):
        return [_strip_parsed(v) for v in parsed]
    return parsed


class Codec:
    def __init__(self, schemas: LocalSchemas | RegistrySchemas):
        self.schemas = schemas
        self._writers: dict[str, Any] = {}  # record name -> its compiled writer (framing included), None if not flat
        self._readers: dict[tuple[str, bool], Any] = {}  # (record name, uuid_text) -> its compiled reader, or None
        self._text_readers: dict[str, tuple[Any, tuple[str, ...]]] = {}  # see _text_reader

    @classmethod
    def from_settings(cls, settings) -> "Codec":
        if settings.schema_registry_url:
            return cls(RegistrySchemas(settings.schema_registry_url))
        return cls(LocalSchemas())

    def encode(self, name: str, record: dict) -> bytes:
        flat = self._writers.get(name, False)
        if flat is False:
            flat = self._writers[name] = compile_writer(self.schemas.current(name),
                                                     _HEADER.pack(MAGIC, self.schemas.id_for(name)))
        if flat is not None:
            try:
                return flat(record)
            except Exception:  # a value only fastavro writes (or rejects): its turn
                pass
        schema_id = self.schemas.id_for(name)
        out = io.BytesIO()
        out.write(_HEADER.pack(MAGIC, schema_id))
        fastavro.schemaless_writer(out, self.schemas.current(name), record)
        return out.getvalue()

    def _text_reader(self, name: str, reader: Any) -> tuple[Any, tuple[str, ...]]:
        """A record that is not flat (the NotificationEvent), read with its top-level uuid fields
        as plain strings, and their names: fastavro's UUID, then its text, cost the router about
        1.2 us an event; the canonical text is checked (and made) as the flat readers do."""
        if name not in self._text_readers:
            schema, fields = _strip_parsed(reader), []
            for field in schema["fields"]:
                kind = field["type"]
                if isinstance(kind, dict) and kind.get("logicalType") == "uuid":
                    field["type"] = "string"
                    fields.append(field["name"])
            self._text_readers[name] = (_parse(schema), tuple(fields))
        return self._text_readers[name]

    def decode(self, name: str, data: bytes | None, *, uuid_text: bool = False) -> dict:
        """Decode a framed record and resolve it to the current reader schema of `name`. uuid
        fields come as UUID objects, or with `uuid_text` as their canonical text (top-level fields)."""
        if not data or len(data) < _HEADER.size:
            raise DecodeError("message too short for the Confluent wire format")
        magic, schema_id = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise DecodeError(f"bad magic byte {magic} (expected {MAGIC})")
        writer = self.schemas.by_id(schema_id)
        if writer["name"] != name:
            raise DecodeError(f"schema id {schema_id} is a {writer['name']}, expected {name}")
        reader = self.schemas.current(name)
        if writer is reader:
            flat = self._readers.get((name, uuid_text), False)
            if flat is False:
                flat = self._readers[(name, uuid_text)] = compile_reader(reader, uuid_text)
            if flat is not None:
                try:
                    return flat(data, _HEADER.size)
                except Exception:  # bytes only fastavro reads (or rejects, saying why): its turn
                    pass
            elif uuid_text:
                schema, fields = self._text_reader(name, reader)
                try:
                    record = fastavro.schemaless_reader(io.BytesIO(data[_HEADER.size:]), schema, None)
                    for field in fields:
                        if record[field] is not None:
                            record[field] = canonical_uuid_text(record[field])
                    return record
                except Exception:  # a malformed uuid, or bytes fastavro rejects: read below, which says why
                    pass
        try:
            record = fastavro.schemaless_reader(
                io.BytesIO(data[_HEADER.size:]), writer, None if writer is reader else reader
            )
        except Exception as exc:  # fastavro raises assorted errors on corrupt input
            raise DecodeError(f"invalid Avro body for {name} (schema id {schema_id}): {exc!r}") from None
        if uuid_text:
            for field in reader["fields"]:
                if isinstance(record.get(field["name"]), uuid.UUID):
                    record[field["name"]] = str(record[field["name"]])
        return record
