"""`tidings endpoints list` and `tidings endpoints enable URL`: webhook endpoints disabled by a
410 Gone answer (channels/webhook/endpoints.py); `tidings endpoints secret URL`: the signing
secrets of one endpoint, to give to its receiver (channels/webhook/signing.py)."""
from __future__ import annotations

import argparse
import json
import sys

from channels.outbound import parse_url
from channels.webhook.endpoints import DELETE, SELECT
from channels.webhook.signing import WebhookSigner, endpoint_url
from consumer.outcomes import Permanent
from consumer.settings import Settings
from channels.webhook.settings import WebhookSettings


def add_parser(verbs) -> None:
    endpoints = verbs.add_parser("endpoints", help="webhook endpoints: disabled by 410 Gone, signing secrets")
    actions = endpoints.add_subparsers(dest="endpoints_verb", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="disabled endpoints with when and why")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    enable = actions.add_parser("enable", help="deliver to URL again (workers notice within seconds)")
    enable.add_argument("url")
    secret = actions.add_parser("secret", help="the signing secrets of the endpoint URL, for its receiver")
    secret.add_argument("url")
    secret.add_argument("--json", action="store_true", help="one JSON object")


def endpoints_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.endpoints_verb == "secret":
        return secret_command(args, settings)
    if not settings.database_url:
        print("tidings endpoints: set TIDINGS_DATABASE_URL", file=sys.stderr)
        return 2
    import psycopg

    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        if args.endpoints_verb == "enable":
            if conn.execute(DELETE, [args.url]).rowcount == 0:
                print(f"tidings endpoints enable: {args.url} is not disabled", file=sys.stderr)
                return 1
            print(f"enabled {args.url}; workers deliver to it again within TIDINGS_WEBHOOK_ENDPOINTS_REFRESH_S")
            return 0
        rows = conn.execute(SELECT).fetchall()
    for url, disabled_at, status_code, reason, delivery_id in rows:
        if args.json:
            print(json.dumps({"url": url, "disabled_at": disabled_at.isoformat(), "status_code": status_code,
                              "reason": reason, "delivery_id": str(delivery_id) if delivery_id else None}))
        else:
            print(f"{disabled_at:%Y-%m-%d %H:%M:%S}  {status_code}  {url}  {reason[:80]}")
    if not rows and not args.json:
        print("no disabled endpoints")
    return 0


def secret_command(args: argparse.Namespace, settings: Settings) -> int:
    """Prints the secrets the receiver at URL verifies with (whsec_..., newest first): during a
    rotation it should accept every one of them. Needs the worker's signing settings, not Postgres."""
    target = parse_url(args.url)
    if isinstance(target, Permanent):
        print(f"tidings endpoints secret: {target.message}", file=sys.stderr)
        return 2
    own = settings.section(WebhookSettings)
    secrets = WebhookSigner.from_settings(*(s.get_secret_value() if s else None for s in (
        own.webhook_signing_secrets, own.webhook_endpoint_secrets))).secrets_for(target)
    if not secrets:
        print("tidings endpoints secret: no signing secret for this endpoint; set TIDINGS_WEBHOOK_SIGNING_SECRETS "
              "(or list it in TIDINGS_WEBHOOK_ENDPOINT_SECRETS)", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"endpoint": endpoint_url(target), "secrets": secrets}))
    else:
        print("\n".join(secrets))
    return 0
