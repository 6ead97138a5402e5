"""`tidings status NOTIFICATION_ID [--json]`: the timeline of every channel's delivery of one
notification, read from the delivery log in Postgres (tracking.timeline), and its channel fallback
step by step (tracking.fallback_steps)."""
from __future__ import annotations

import argparse
import json

import psycopg
from rich.console import Console

from cli.tables import show
from consumer.settings import Settings
from tracking.fallback_steps import fallback_steps
from tracking.timeline import notification_status, notification_uuid, timeline


def status_command(args: argparse.Namespace, settings: Settings) -> int:
    out, err = Console(), Console(stderr=True)
    if not settings.database_url:
        err.print("tidings status: set TIDINGS_DATABASE_URL (the delivery log lives there)")
        return 2
    try:
        notification_id = notification_uuid(args.notification_id)
    except ValueError as exc:
        err.print(f"tidings status: {exc}")
        return 2
    with psycopg.connect(settings.database_url) as conn:
        summary = notification_status(conn, notification_id)
        events = timeline(conn, notification_id)
    if args.json:
        print(json.dumps({"notification_id": notification_id, "summary": summary, "events": events,
                          "fallback": fallback_steps(events)}))
        return 0 if events else 1
    if not events:
        err.print(f"tidings status: nothing recorded for notification {notification_id}")
        return 1
    receipts = ", ".join(f"{summary[status]} {status}" for status in ("undelivered", "bounced", "complained")
                         if summary[status])
    out.print(f"notification {notification_id}: [bold]{summary['status']}[/bold] "
              f"({summary['sent']} of {summary['deliveries']} deliveries sent{'; ' + receipts if receipts else ''})")
    show(out, "timeline", ("channel", "time (UTC)", "status", "attempt", "detail", "error"),
         [(event["channel"], event["occurred_at"][:23], event["status"], str(event["attempt"]), _detail(event),
           _error(event)) for event in events], free_text=("detail", "error"))
    if steps := fallback_steps(events):  # each step of a channel fallback, and why it was or was not taken
        show(out, "fallback", ("step", "channel", "due (UTC)", "outcome", "why"),
             [(str(s["step"]), s["channel"], (s["due_at"] or "")[:19].replace("T", " "), s["outcome"], s["why"])
              for s in steps], free_text=("why",))
    return 0


def _detail(event: dict) -> str:
    """What the status alone does not say: tier and due time, provider, stage, replay, cost."""
    parts = []
    if event["retry_tier"]:
        parts.append(f"tier {event['retry_tier']} due {(event['due_at'] or '')[11:19]}")
    elif event["due_at"]:  # held (scheduled, deferred): possibly days ahead, so the date too
        parts.append(f"until {event['due_at'][:19].replace('T', ' ')}")
    if event["provider"]:
        parts.append(f"via {event['provider']}")
    if event["stage"]:
        parts.append(f"at {event['stage']}")
    if event["replay"]:
        parts.append(f"replay {event['replay']}")
    if event["reason"]:
        parts.append(event["reason"])
    if event["cost"] is not None:
        parts.append(f"cost {event['cost']} {event['cost_currency'] or ''}".strip())
    return ", ".join(parts)


def _error(event: dict) -> str:
    parts = [str(p) for p in (event["status_code"], event["error_class"], event["error_message"]) if p]
    return " ".join(parts)
