"""Reading a JSON request body: malformed JSON, non-UTF-8 bytes, NaN/Infinity, absurd nesting and
NUL in any key or string (Postgres cannot store it) are the client's error (400), never the server's."""
from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from consumer.text_rules import json_flaw
from gateway.errors import ApiError, field_of


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def json_body(request: Request) -> Any:
    """The body of the directory, template, DLQ and Alertmanager endpoints; the notification
    endpoint checks each field by its own rule instead (consumer/notification_json.py)."""
    value = parse_json(await request.body())
    if (problem := json_flaw(value, "")) is not None:
        field = field_of(problem)
        raise ApiError(400, problem if field else f"request body: {problem}", field)
    return value


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise ApiError(400, "request body is empty; expected JSON")
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except UnicodeDecodeError:
        raise ApiError(400, "request body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:
        raise ApiError(400, f"request body: {exc}") from None
    except RecursionError:
        raise ApiError(400, "request body is nested too deeply") from None


def json_object(value: Any, what: str = "request body") -> dict:
    if not isinstance(value, dict):
        raise ApiError(422, f"{what}: expected a JSON object")
    return value
