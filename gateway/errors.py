"""Every error the gateway answers has one shape: {"error": what went wrong, "field": where}, so
a client can tell which field of its request is at fault without parsing prose."""
from __future__ import annotations

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from consumer.text_rules import ControlCharacter


class ApiError(Exception):
    """An answer other than success: status, message, the field at fault, extra headers."""

    def __init__(self, status: int, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.headers = status, message, field, headers or {}


def error_body(message: str, field: str | None = None) -> dict:
    return {"error": message, "field": field}


def field_of(message: str) -> str | None:
    """The field a validation message starts with ("recipient.id: required" -> "recipient.id")."""
    head, sep, _ = message.partition(": ")
    return head if sep and " " not in head else None


def input_status(exc: Exception) -> int:
    """400 for a control character (or NUL) where none belongs: the body is malformed, like bad
    JSON; 422 for every other validation error."""
    return 400 if isinstance(exc, ControlCharacter) else 422


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        request.state.audit_detail = exc.message
        return JSONResponse(error_body(exc.message, exc.field), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        request.state.audit_detail = str(exc.detail)
        return JSONResponse(error_body(str(exc.detail)), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "header"))
        message = f"{where or 'request'}: {first.get('msg')}"
        request.state.audit_detail = message
        return JSONResponse(error_body(message, where or None), status_code=422)

    @app.exception_handler(psycopg.DataError)
    async def invalid_data(request: Request, exc: psycopg.DataError) -> JSONResponse:
        # Postgres refused a value the validators let through (a NUL character, say): the input's fault.
        message = f"a value cannot be stored: {exc.diag.message_primary or type(exc).__name__}"
        request.state.audit_detail = message
        return JSONResponse(error_body(message), status_code=422)
