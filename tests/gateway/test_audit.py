"""The audit log: a row per mutating call (accepted or refused) with principal, action, target,
outcome, time and request id, written before the answer; append-only; `tidings audit`."""
from __future__ import annotations

import json

import psycopg
import pytest

from tests.cli.run import tidings
from tests.gateway.conftest import make_token
from tests.gateway.test_notifications import ONE


def audit_rows(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT principal, action, target, outcome, status_code, request_id, detail"
                            " FROM audit_log ORDER BY id").fetchall()


def test_every_mutating_call_is_audited_before_the_answer(gateway, pipeline):
    accepted = gateway.request("POST", "/v1/notifications", make_token("billing"), json=ONE,
                               headers={"X-Request-ID": "req-accepted-1"})
    assert accepted.status_code == 202 and accepted.headers["X-Request-ID"] == "req-accepted-1"
    rows = audit_rows(pipeline.database_url)  # read right after the answer: already there
    assert rows == [("billing", "notifications.create", accepted.json()["id"], "ok", 202, "req-accepted-1", None)]
    unauthenticated = gateway.request("POST", "/v1/notifications", json=ONE)
    forbidden = gateway.request("POST", "/v1/notifications", make_token("crm", scopes=["send:sms"]), json=ONE)
    invalid = gateway.request("POST", "/v1/notifications", make_token("crm"), json={**ONE, "channels": []})
    gateway.request("GET", "/v1/templates", make_token())  # reads are not audited
    rows = audit_rows(pipeline.database_url)[1:]
    assert [(r[0], r[1], r[3], r[4]) for r in rows] == [
        (None, "notifications.create", "unauthenticated", 401),
        ("crm", "notifications.create", "forbidden", 403),
        ("crm", "notifications.create", "rejected", 422)]
    assert [r[5] for r in rows] == [unauthenticated.headers["X-Request-ID"], forbidden.headers["X-Request-ID"],
                                    invalid.headers["X-Request-ID"]]
    assert "send:email" in rows[1][6] and "channels" in rows[2][6]


def test_the_audit_log_is_append_only(gateway, pipeline):
    gateway.request("POST", "/v1/notifications", make_token(), json=ONE)
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        for statement in ("UPDATE audit_log SET principal = 'someone-else'", "DELETE FROM audit_log",
                          "TRUNCATE audit_log"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(statement)
    assert [r[0] for r in audit_rows(pipeline.database_url)] == ["billing"]


def test_tidings_audit_prints_the_calls_since(gateway, pipeline):
    gateway.request("POST", "/v1/notifications", make_token("billing"), json=ONE, headers={"X-Request-ID": "r-1"})
    gateway.request("POST", "/v1/notifications", make_token("crm", scopes=[]), json=ONE, headers={"X-Request-ID": "r-2"})
    result = tidings(pipeline, "audit", "--since", "1h", "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["principal"], r["outcome"], r["request_id"]) for r in rows] == [("billing", "ok", "r-1"),
                                                                              ("crm", "forbidden", "r-2")]
    only = tidings(pipeline, "audit", "--since", "1h", "--json", "--principal", "crm")
    assert [json.loads(line)["request_id"] for line in only.stdout.splitlines()] == ["r-2"]
    table = tidings(pipeline, "audit", "--since", "24h", COLUMNS="250")
    assert table.returncode == 0 and "notifications.create" in table.stdout
    assert tidings(pipeline, "audit", "--since", "yesterday-ish").returncode == 2


def test_a_call_that_fails_inside_is_still_audited_as_failed(gateway, pipeline):
    from fastapi import APIRouter

    broken = APIRouter()

    @broken.post("/v1/broken", name="tests.broken")
    async def fail():
        raise RuntimeError("a bug")

    gateway.app.include_router(broken)
    response = gateway.request("POST", "/v1/broken", make_token())
    assert response.status_code == 500
    [row] = audit_rows(pipeline.database_url)
    assert row[:5] == (None, "tests.broken", "/v1/broken", "failed", 500)
    assert row[5] and row[6] == "internal error: RuntimeError"
