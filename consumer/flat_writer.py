"""Avro binary encoding of flat records (DeliveryEvent, ChannelMessage) as one straight-line
function per schema, for consumer.codec: every delivery writes at least one such record.

A flat record's fields are strings, ints, longs, booleans, enums, uuid strings and timestamp-millis
longs, each possibly in a union with null. A value this writer does not take as is (a naive
datetime, a decimal, a wrong type) raises, and the codec writes that record with
fastavro instead, so fastavro stays the reference for everything but the plain common case."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable
from uuid import UUID

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
# Zig-zag varints of 0..63, one byte each: every short string's length.
_SMALL = [bytes((n << 1,)) for n in range(64)]


class NotFlat(ValueError):
    """A value the flat writer, or bytes the flat reader, leaves to fastavro."""


def _long(n: int) -> bytes:
    """Zig-zag varint of a long."""
    if type(n) is not int or not _LONG_MIN <= n <= _LONG_MAX:
        raise NotFlat(n)
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _text(value: Any, uuid: bool) -> bytes:
    if type(value) is not str:
        if not uuid or type(value) is not UUID:
            raise NotFlat(value)
        value = str(value)
    return value.encode()


def _millis(value: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is not datetime or value.tzinfo is None:  # naive times: fastavro's own rule
        raise NotFlat(value)
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _field_code(kind: str, symbols: list[str] | None, index: int) -> list[str]:
    """Lines that append the encoding of `v` (a value of this kind, never None) to `out`."""
    if kind in ("string", "uuid"):
        return [f"b = _text(v, {kind == 'uuid'})", "n = len(b)",
                "out.append(_SMALL[n] if n < 64 else _long(n))", "out.append(b)"]
    if kind in ("int", "long"):
        return ["out.append(_SMALL[v] if type(v) is int and 0 <= v < 64 else _long(v))"]
    if kind == "timestamp-millis":
        return ["out.append(_long(_millis(v)))"]
    if kind == "boolean":
        return ["if type(v) is not bool: raise NotFlat(v)", "out.append(b'\\x01' if v else b'\\x00')"]
    if kind == "enum":
        return [f"out.append(_SYMBOLS_{index}[v])"]
    raise AssertionError(kind)


def field_kind(schema: Any) -> tuple[str, list[str] | None] | None:
    """The kind of a non-union field type the flat writer and reader handle, or None."""
    if schema in ("string", "int", "long", "boolean"):
        return schema, None
    if not isinstance(schema, dict):
        return None
    logical, base = schema.get("logicalType"), schema.get("type")
    if logical == "uuid" and base == "string":
        return "uuid", None
    if logical == "timestamp-millis" and base == "long":
        return "timestamp-millis", None
    if logical == "decimal":
        return "unsupported", None  # null is written here; a value goes to fastavro
    if logical is None and base == "enum":
        return "enum", list(schema["symbols"])
    if logical is None and base in ("string", "int", "long", "boolean"):
        return base, None
    return None


def compile_writer(schema: dict, prefix: bytes = b"") -> Callable[[dict], bytes] | None:
    """A function record -> prefix + Avro binary of the record, or None when the schema is not flat."""
    if not isinstance(schema, dict) or schema.get("type") != "record":
        return None
    lines = ["def write(r):", "    out = [PREFIX]"]
    scope: dict[str, Any] = {"PREFIX": prefix, "_SMALL": _SMALL, "_long": _long, "_text": _text,
                             "_millis": _millis, "NotFlat": NotFlat}
    for index, field in enumerate(schema["fields"]):
        scope[f"_DEFAULT_{index}"] = field.get("default")  # what fastavro writes for a missing field
        lines.append(f"    v = r.get({field['name']!r}, _DEFAULT_{index})")
        ftype = field["type"]
        null_tag = None
        if isinstance(ftype, list):
            if len(ftype) != 2 or "null" not in ftype:
                return None
            null_tag = b"\x00" if ftype[0] == "null" else b"\x02"
            value_tag = b"\x02" if ftype[0] == "null" else b"\x00"
            ftype = ftype[1] if ftype[0] == "null" else ftype[0]
        found = field_kind(ftype)
        if found is None:
            return None
        kind, symbols = found
        if symbols is not None:
            scope[f"_SYMBOLS_{index}"] = {s: _SMALL[i] for i, s in enumerate(symbols)} if len(symbols) < 64 else None
            if scope[f"_SYMBOLS_{index}"] is None:
                return None
        body = ["raise NotFlat(v)"] if kind == "unsupported" else _field_code(kind, symbols, index)
        if null_tag is None:
            if kind == "unsupported":
                return None
            lines += [f"    {line}" for line in body]
        else:
            lines += ["    if v is None:", f"        out.append({null_tag!r})", "    else:",
                      f"        out.append({value_tag!r})"] + [f"        {line}" for line in body]
    lines.append("    return b''.join(out)")
    exec(compile("\n".join(lines), f"<flat writer for {schema.get('name')}>", "exec"), scope)
    return scope["write"]
