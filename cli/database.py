"""`tidings db migrate` and `tidings db prune --older-than 90d`."""
from __future__ import annotations

import argparse
import json
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


_LOG_COUNTS = ("events_removed", "deliveries_removed")


def prune_command(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.database_url:
        print("tidings db prune: set TIDINGS_DATABASE_URL", file=sys.stderr)
        return 2
    import psycopg

    from consumer.moments import parse_moment
    from tracking.prune import prune
    if args.older_than.strip()[-1:] not in ("d", "h"):
        print(f"tidings db prune: --older-than wants an age in days or hours such as 90d, got {args.older_than!r}",
              file=sys.stderr)
        return 2
    try:
        cutoff = parse_moment(args.older_than)
    except ValueError:
        print(f"tidings db prune: {args.older_than!r} is not an age such as 90d", file=sys.stderr)
        return 2
    with psycopg.connect(settings.database_url) as conn:
        result = prune(conn, cutoff, dry_run=args.dry_run, settings=settings)
    if args.json:
        print(json.dumps(result))
        return 0
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} everything before {result['before']}: {len(result['partitions_dropped'])} day partitions "
          f"({', '.join(result['partitions_dropped']) or 'none'}), {result['events_removed']} events, "
          f"{result['deliveries_removed']} deliveries" +
          "".join(f", {count} {what.removesuffix('_removed').replace('_', ' ')}"
                  for what, count in result.items() if what.endswith("_removed") and what not in _LOG_COUNTS))
    return 0
