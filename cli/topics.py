"""`tidings topics create|list`."""
from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from consumer.retry_tiers import all_tier_names
from consumer.kafka_logging import check_reachable
from consumer.settings import Settings
from consumer.topics import Topics, admin_client, create_topics, list_topics


def topics_command(args: argparse.Namespace, settings: Settings) -> int:
    admin = admin_client(settings.kafka_common())
    console = Console()
    # No broker: BrokerUnreachable, one line from cli/main.py (create would wait out its timeout).
    check_reachable(admin, settings.bootstrap_servers)
    if args.topics_verb == "create":
        partitions = args.partitions or settings.partitions
        if partitions < 1:
            console.print("[red]--partitions must be at least 1[/red]")
            return 2
        names = Topics(settings.topic_prefix).all(all_tier_names(settings))
        result = create_topics(admin, names, partitions, settings.replication_factor)
        for name, state in result.items():
            console.print(f"{name}: {state}")
        return 1 if any(s.startswith("exists with") for s in result.values()) else 0
    table = Table("topic", "partitions")
    for name, count in list_topics(admin, settings.topic_prefix).items():
        table.add_row(name, str(count))
    console.print(table)
    return 0
