"""Reading the gateway's audit log (audit_log, written by gateway/audit.py) for `tidings audit`:
one row per mutating call, oldest first."""
from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.rows import dict_row


def read(conn: psycopg.Connection, since: datetime, principal: str | None = None,
         action: str | None = None) -> list[dict]:
    """Audit rows at or after `since`, oldest first, optionally of one principal or action."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT at, request_id, principal, action, target, outcome, status_code, detail FROM audit_log"
                    " WHERE at >= %(since)s AND (%(principal)s::text IS NULL OR principal = %(principal)s)"
                    " AND (%(action)s::text IS NULL OR action = %(action)s) ORDER BY at, id",
                    {"since": since, "principal": principal, "action": action})
        return cur.fetchall()
