"""`tidings db migrate`."""
from __future__ import annotations

import sys

from consumer.settings import Settings


def migrate_command(settings: Settings) -> int:
    if not settings.database_url:
        print("tidings: set TIDINGS_DATABASE_URL to migrate", file=sys.stderr)
        return 2
    from tracking.migrate import migrate
    applied = migrate(settings.database_url)
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0
