"""Schema migrations for the delivery log: numbered .sql files in tracking/migrations/.

Run once at start by the tracking sink (and by `tidings demo`) before any DeliveryLog is opened.
"""
from __future__ import annotations

from pathlib import Path

from consumer.postgres import connect

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Any fixed bigint will do; it only has to be the same in every process that migrates.
_LOCK_KEY = 0x7469_6469_6E67_73  # "tidings"

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS tidings_schema_migrations (
    name       text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def pending_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    """The migration files in apply order; the zero-padded number prefix makes that name order."""
    return sorted(directory.glob("*.sql"), key=lambda path: path.name)


def migrate(conninfo: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the migrations not yet recorded, each in its own transaction; return their names.

    Each transaction first takes a transaction-scoped advisory lock and only then reads the ledger,
    so two processes starting at once apply every migration exactly once between them.
    """
    applied: list[str] = []
    with connect(conninfo) as conn:
        for path in pending_files(directory):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
                conn.execute(_CREATE_LEDGER)
                done = conn.execute(
                    "SELECT 1 FROM tidings_schema_migrations WHERE name = %s", [path.name]
                ).fetchone()
                if done:
                    continue
                # No parameters: psycopg sends the file as one simple query, several statements allowed.
                conn.execute(path.read_text().encode())
                conn.execute("INSERT INTO tidings_schema_migrations (name) VALUES (%s)", [path.name])
            applied.append(path.name)
    return applied
