"""Decoded Avro records and Postgres rows as JSON-ready values, for every --json output of the
CLI and every answer of the gateway (one spelling of times, UUIDs, decimals and bytes)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from consumer import failure_headers as fh


def jsonable(value: Any) -> Any:
    """Datetimes as ISO 8601 UTC, bytes as text (undecodable bytes escaped), the rest as str."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return fh.iso(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
