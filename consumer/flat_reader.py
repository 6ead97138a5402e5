"""Avro binary decoding of flat records (ChannelMessage, DeliveryEvent) written with the reader's own
schema, as one straight-line function per schema, for consumer.codec: every delivery reads one.

The field types are those of consumer/flat_writer.py. Anything else in the bytes (a decimal, a
branch or enum index out of range, a bad string, a malformed uuid, bytes cut short) raises, and the codec reads
that record with fastavro instead, which decodes it or says why it cannot."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from uuid import UUID

from consumer.flat_writer import NotFlat, field_kind

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _long_rest(data: bytes, pos: int, first: int) -> tuple[int, int]:
    """The rest of a varint whose first byte was `first`: (zig-zag decoded value, next position)."""
    n, shift = first & 0x7F, 7
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            return (n >> 1) ^ -(n & 1), pos
        shift += 7
        if shift > 63:
            raise NotFlat("varint too long")


def canonical_uuid_text(text: str) -> str:
    """fastavro makes a UUID of it: the same check, and the same text as str(UUID) gives."""
    return text if _CANONICAL_UUID.fullmatch(text) else str(UUID(text))


def _long_into(target: str, indent: str) -> list[str]:
    return [f"{indent}b = data[pos]", f"{indent}pos += 1", f"{indent}if b < 0x80:",
            f"{indent}    {target} = (b >> 1) ^ -(b & 1)", f"{indent}else:",
            f"{indent}    {target}, pos = _long_rest(data, pos, b)"]


def _value_into(target: str, kind: str, index: int, uuid_text: bool, indent: str) -> list[str]:
    """Lines that read a value of this kind at `pos` into `target`."""
    if kind in ("string", "uuid"):
        lines = _long_into("n", indent) + [
            f"{indent}if n < 0 or pos + n > len(data): raise NotFlat('string past the end')",
            f"{indent}{target} = data[pos:pos + n].decode()", f"{indent}pos += n"]
        if kind == "uuid":
            lines.append(f"{indent}{target} = {'_uuid_text' if uuid_text else 'UUID'}({target})")
        return lines
    if kind in ("int", "long"):
        return _long_into(target, indent)
    if kind == "timestamp-millis":
        return _long_into("n", indent) + [f"{indent}{target} = _EPOCH + timedelta(microseconds=n * 1000)"]
    if kind == "boolean":
        return [f"{indent}b = data[pos]", f"{indent}pos += 1", f"{indent}if b > 1: raise NotFlat('boolean')",
                f"{indent}{target} = b == 1"]
    if kind == "enum":
        return _long_into("n", indent) + [f"{indent}if n < 0: raise NotFlat('enum index')",
                                          f"{indent}{target} = _SYMBOLS_{index}[n]"]
    raise AssertionError(kind)


def compile_reader(schema: dict, uuid_text: bool = False) -> Callable[[bytes, int], dict] | None:
    """A function (data, position) -> the record, or None when the schema is not flat. uuid fields
    come out as UUID objects, as fastavro gives them, or with `uuid_text` as their canonical text."""
    if not isinstance(schema, dict) or schema.get("type") != "record":
        return None
    lines = ["def read(data, pos):"]
    scope: dict[str, Any] = {"_long_rest": _long_rest, "_uuid_text": canonical_uuid_text, "UUID": UUID, "_EPOCH": _EPOCH,
                             "timedelta": timedelta, "NotFlat": NotFlat}
    names = []
    for index, field in enumerate(schema["fields"]):
        target, ftype = f"f{index}", field["type"]
        names.append((field["name"], target))
        null_first = None
        if isinstance(ftype, list):
            if len(ftype) != 2 or "null" not in ftype:
                return None
            null_first = ftype[0] == "null"
            ftype = ftype[1] if null_first else ftype[0]
        found = field_kind(ftype)
        if found is None:
            return None
        kind, symbols = found
        if symbols is not None:
            scope[f"_SYMBOLS_{index}"] = symbols
        if null_first is None:
            if kind == "unsupported":
                return None
            lines += _value_into(target, kind, index, uuid_text, "    ")
            continue
        value_branch = 1 if null_first else 0
        value = ["        raise NotFlat('a value for fastavro')"] if kind == "unsupported" else \
            _value_into(target, kind, index, uuid_text, "        ")
        lines += [*_long_into("branch", "    "), f"    if branch == {value_branch}:", *value,
                  f"    elif branch == {1 - value_branch}:", f"        {target} = None",
                  "    else:", "        raise NotFlat('union branch')"]
    lines.append("    return {" + ", ".join(f"{name!r}: {target}" for name, target in names) + "}")
    exec(compile("\n".join(lines), f"<flat reader for {schema.get('name')}>", "exec"), scope)
    return scope["read"]
