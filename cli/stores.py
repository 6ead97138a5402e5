"""The Postgres connection behind `tidings templates | recipients | prefs`: TIDINGS_DATABASE_URL,
migrated on first use, autocommit (each store method is its own transaction)."""
from __future__ import annotations

import sys

import psycopg

from consumer.settings import Settings


def connect(settings: Settings) -> psycopg.Connection | None:
    """An open connection, or None after telling the user why not."""
    if not settings.database_url:
        print("tidings: set TIDINGS_DATABASE_URL (a PostgreSQL conninfo or URL)", file=sys.stderr)
        return None
    from tracking.migrate import migrate
    try:
        migrate(settings.database_url)
        return psycopg.connect(settings.database_url, autocommit=True)
    except psycopg.OperationalError as exc:
        print(f"tidings: cannot connect to the database: {str(exc).strip()}", file=sys.stderr)
        return None
