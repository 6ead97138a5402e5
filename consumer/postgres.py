"""Postgres connections as every service opens them: autocommit, and a connect that gives up
after CONNECT_TIMEOUT_S (a stopped or frozen server otherwise holds a connect forever), so the
service can report the outage, wait and try again."""
from __future__ import annotations

import psycopg

CONNECT_TIMEOUT_S = 10


def connect(conninfo: str) -> psycopg.Connection:
    return psycopg.connect(conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)


async def connect_async(conninfo: str) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
