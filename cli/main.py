"""`tidings <verb>`: the entry point. Each verb reads Settings once and passes them down."""
from __future__ import annotations

import argparse
import importlib
import sys

from consumer import kafka_logging
from consumer.settings import Settings, SettingsError
from consumer.channel_specs import channel_names


# `tidings run SERVICE`: the name as `tidings --help` shows it, and what the service does.
SERVICES = {
    "router": ("router", "fan notification events out to channel topics"),
    "channel": ("channel <name>", "deliver one channel's messages"),
    "sink": ("sink", "record delivery events in Postgres"),
    "gateway": ("gateway", "the HTTP gateway (REST API, Alertmanager, unsubscribe)"),
}


# Verbs declared by their own module (cli/<verb>.py, add_parser). Importing one imports what its
# command needs (aiohttp, jinja2, the router's stores), so a command declares only its own: start-up
# is most of what `tidings stats` and `tidings status` take.
MODULE_VERBS = ("cancel", "deploy", "docs", "config", "endpoints", "templates", "recipients", "prefs", "suppressions")


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or with `verb` (the first argument) only as much of it as parsing
    that verb needs: every verb when it is not one (for --help and the error)."""
    parser = argparse.ArgumentParser(prog="tidings", description="Kafka-native multi-channel notifications.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    run = verbs.add_parser("run", help=f"run a service ({', '.join(usage for usage, _ in SERVICES.values())})")
    services = run.add_subparsers(dest="service", required=True, metavar="SERVICE")
    for name, (_, text) in SERVICES.items():
        service = services.add_parser(name, help=text)
        if name == "channel":
            service.add_argument("channel", choices=channel_names())
    gateway = verbs.add_parser("gateway", help="HTTP gateway tools")
    gateway_verbs = gateway.add_subparsers(dest="gateway_verb", required=True, metavar="ACTION")
    gateway_verbs.add_parser("openapi", help="print the gateway's OpenAPI document (needs no broker or database)")
    audit = verbs.add_parser("audit", help="the gateway's audit log of mutating calls (from Postgres)")
    audit.add_argument("--since", default="24h", metavar="T", help="ISO 8601 time or an age: 15m, 2h, 7d (default 24h)")
    audit.add_argument("--principal", help="only this principal's calls")
    audit.add_argument("--action", help="only this action, e.g. notifications.create")
    audit.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")

    topics = verbs.add_parser("topics", help="create or list Kafka topics")
    topic_verbs = topics.add_subparsers(dest="topics_verb", required=True, metavar="ACTION")
    create = topic_verbs.add_parser("create", help="create all Tidings topics (idempotent)")
    create.add_argument("--partitions", type=int, help="partitions per topic (default: TIDINGS_PARTITIONS or 6)")
    topic_verbs.add_parser("list", help="list Tidings topics with partition counts")

    db = verbs.add_parser("db", help="database maintenance")
    db_verbs = db.add_subparsers(dest="db_verb", required=True, metavar="ACTION")
    db_verbs.add_parser("migrate", help="apply pending migrations to TIDINGS_DATABASE_URL")
    prune = db_verbs.add_parser("prune", help="drop delivery-log days older than an age (whole UTC days), and inbox items past their retention")
    prune.add_argument("--older-than", required=True, metavar="AGE", help="an age such as 90d or 36h")
    prune.add_argument("--dry-run", action="store_true", help="change nothing; print what would be removed")
    prune.add_argument("--json", action="store_true", help="print one JSON object")

    status = verbs.add_parser("status", help="the delivery timeline of one notification (from Postgres)")
    status.add_argument("notification_id")
    status.add_argument("--json", action="store_true", help="print one JSON object instead of tables")

    stats = verbs.add_parser("stats", help="delivery statistics over a time window (from Postgres)")
    stats.add_argument("--since", default="24h", metavar="T",
                       help="deliveries created at or after T (ISO 8601, or ago: 15m, 24h, 7d; default 24h)")
    stats.add_argument("--by", metavar="COLUMNS",
                       help="group by comma-separated columns: channel, status, provider, priority, tenant, "
                            "category, source")
    stats.add_argument("--json", action="store_true", help="print one JSON object instead of tables")

    publish = verbs.add_parser("publish", help="publish notifications: JSON Lines or one JSON document (a file or -)")
    publish.add_argument("file", help="a file of JSON Lines or one JSON document (an object or an array), "
                                      "or - for standard input")

    demo = verbs.add_parser("demo", help="run the whole pipeline locally and report throughput")
    demo.add_argument("--events", type=int, default=1000, help="notifications to publish (default 1000)")
    demo.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    from cli.demo_channels import DEMO_CHANNELS
    demo.add_argument("--channels", default="webhook", metavar="LIST",
                      help=f"comma-separated channels to deliver on, each to a local fake of its service: "
                           f"{', '.join(DEMO_CHANNELS)}, or all (default webhook); the notifications go to them "
                           f"in turn; push fakes FCM only, apprise a ntfy server; APNs, email and SMS have no fake")

    dlq = verbs.add_parser("dlq", help="inspect and replay the dead-letter topic")
    dlq_verbs = dlq.add_subparsers(dest="dlq_verb", required=True, metavar="ACTION")
    reading = argparse.ArgumentParser(add_help=False)
    reading.add_argument("--json", action="store_true", help="print JSON instead of tables")
    reading.add_argument("--idle", type=float, default=2.0, metavar="SECONDS",
                         help="reading dead letters back from the broker (show, replay): give up after this long "
                              "without one (default 2)")
    selection = argparse.ArgumentParser(add_help=False, parents=[reading])
    selection.add_argument("--channel", choices=channel_names(), help="only this channel's dead letters")
    selection.add_argument("--error", metavar="E", help="only this error class or reason")
    selection.add_argument("--since", metavar="T", help="dead-lettered at or after T (ISO 8601, or ago: 15m, 2h, 7d)")
    selection.add_argument("--until", metavar="T", help="dead-lettered at or before T (ISO 8601, or ago)")
    dlq_verbs.add_parser("list", parents=[selection],
                         help="counts by channel and error class, with samples (as the sink recorded them)")
    show = dlq_verbs.add_parser("show", parents=[reading], help="every dead letter of one notification")
    show.add_argument("notification_id")
    replay = dlq_verbs.add_parser("replay", parents=[selection],
                                  help="re-publish dead letters to their original topics (needs TIDINGS_DATABASE_URL)",
                                  description="Re-publish dead letters to their original topics. Each replay is recorded "
                                  "in Postgres (dlq_replays) after the broker acknowledges it, so a rerun skips it; a "
                                  "crash between the two replays that one message again.")
    replay.add_argument("--dry-run", action="store_true", help="change nothing; print what would be replayed")
    replay.add_argument("--rate", type=float, metavar="N", help="at most N messages per second")
    replay.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    every = verb not in verbs.choices and verb not in MODULE_VERBS
    for name in MODULE_VERBS:
        if every or verb == name:
            importlib.import_module(f"cli.{name}").add_parser(verbs)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        settings = Settings.load()
    except SettingsError as exc:
        print(f"tidings: {exc}", file=sys.stderr)
        return 2
    if args.verb == "run":  # services wait out a broker outage and log the Kafka client's lines
        return dispatch(args, settings)
    with kafka_logging.quiet_for_commands(settings.log_level):
        try:
            return dispatch(args, settings)
        except Exception as exc:  # whichever command met it: one line, not a traceback
            if (unreachable := kafka_logging.unreachable(exc, settings.bootstrap_servers)) is None:
                raise
            print(f"tidings: {unreachable}", file=sys.stderr)
            return 2


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.verb == "config":
        from cli.config import config_command
        return config_command(args, settings)
    if args.verb == "deploy":
        from cli.deploy import deploy_command
        return deploy_command(args)
    if args.verb == "docs":
        from cli.docs import docs_command
        return docs_command(args)
    if args.verb == "run" and args.service == "gateway":
        from cli.gateway import run_gateway
        return run_gateway(settings)
    if args.verb == "gateway":
        from cli.gateway import openapi_command
        return openapi_command(settings)
    if args.verb == "audit":
        from cli.audit import audit_command
        return audit_command(args, settings)
    if args.verb == "run":
        from cli.services import run_service
        return run_service(args, settings)
    if args.verb == "topics":
        from cli.topics import topics_command
        return topics_command(args, settings)
    if args.verb == "db":
        from cli.database import migrate_command, prune_command
        return prune_command(args, settings) if args.db_verb == "prune" else migrate_command(settings)
    if args.verb == "status":
        from cli.status import status_command
        return status_command(args, settings)
    if args.verb == "cancel":
        from cli.cancel import cancel_command
        return cancel_command(args, settings)
    if args.verb == "stats":
        from cli.stats import stats_command
        return stats_command(args, settings)
    if args.verb in ("templates", "recipients", "prefs"):
        from cli import prefs, recipients, templates
        command = {"templates": templates.templates_command, "recipients": recipients.recipients_command,
                   "prefs": prefs.prefs_command}[args.verb]
        return command(args, settings)
    if args.verb == "suppressions":
        from cli.suppressions import suppressions_command
        return suppressions_command(args, settings)
    if args.verb == "endpoints":
        from cli.endpoints import endpoints_command
        return endpoints_command(args, settings)
    if args.verb == "publish":
        from cli.publish import publish_command
        return publish_command(args.file, settings)
    if args.verb == "demo":
        from cli.demo import demo_command
        return demo_command(args.events, args.json, settings, args.channels)
    if args.verb == "dlq":
        from cli.dlq import dlq_command
        return dlq_command(args, settings)
    return 2


if __name__ == "__main__":
    sys.exit(main())
