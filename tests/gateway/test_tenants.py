"""Tenants: a token acts for the tenants of its `tenants` claim (or the operator's default for tokens
without one), and every read and write of the gateway is limited to them: notifications, their
timelines, statistics, dead letters, Alertmanager routes; what all tenants share needs "*"."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from consumer.codec import Codec
from consumer.events import CHANNEL_MESSAGE
from consumer.settings import SettingsError
from consumer.topics import Topics
from tests.cli.test_dlq import DeadLetters, channel_message, ledger_rows
from tests.gateway.conftest import ALL_SCOPES, make_token
from tests.gateway.test_dlq_replay_jobs import start_replay, wait_for_job
from tests.gateway.test_directory import INVOICE
from tests.gateway.test_notifications import ONE, events_on
from tests.pipeline import read_topic
from tests.tracking.test_store import event, record

ALERT_TOKEN = "acme-alertmanager-token-0123456789"
PRIORITIES = ("urgent", "high", "normal", "low")


def acme(subject: str = "acme-app", scopes=ALL_SCOPES) -> str:
    return make_token(subject, scopes, tenants=["acme"])


def published_tenants(gateway) -> list[str]:
    return sorted(e["tenant"] for p in PRIORITIES for e in events_on(gateway, p))


def test_a_token_without_the_claim_acts_for_what_the_operator_says(start_gateway):
    strict = start_gateway(gateway_default_tenants="")  # empty: such tokens are refused
    unclaimed = make_token("legacy", tenants=None)
    for method, path, body in (("POST", "/v1/notifications", ONE), ("GET", "/v1/stats", None),
                               ("GET", "/v1/notifications/00000000-0000-4000-8000-000000000000", None),
                               ("GET", "/v1/dlq", None), ("GET", "/v1/templates", None)):
        refused = strict.request(method, path, unclaimed, json=body)
        assert refused.status_code == 403, f"{method} {path}: {refused.text}"
        assert "tenants" in refused.json()["error"] and "TIDINGS_GATEWAY_DEFAULT_TENANTS" in refused.json()["error"]
    assert strict.request("POST", "/v1/notifications", make_token(tenants=[]), json=ONE).status_code == 403
    for malformed in (5, [""], [7], {"acme": True}):
        answer = strict.request("POST", "/v1/notifications", make_token(tenants=malformed), json=ONE)
        assert answer.status_code == 401 and "tenants" in answer.json()["error"], malformed
    assert published_tenants(strict) == []

    # "*" as the explicit setting; names limit such tokens.
    compatible = start_gateway(gateway_default_tenants="*")
    globex = {**ONE, "tenant": "globex"}
    assert compatible.request("POST", "/v1/notifications", unclaimed, json=globex).status_code == 202
    named = start_gateway(gateway_default_tenants="acme")
    assert named.request("POST", "/v1/notifications", unclaimed, json=ONE).status_code == 202
    assert named.request("POST", "/v1/notifications", unclaimed, json=globex).status_code == 403
    assert published_tenants(named) == ["acme", "globex"]

    # The default ("*") keeps tokens from before the claim working.
    default = start_gateway()
    assert default.request("POST", "/v1/notifications", unclaimed, json=globex).status_code == 202
    assert published_tenants(default) == ["acme", "globex", "globex"]


def test_static_tokens_carry_tenants_too(start_gateway):
    with pytest.raises(SettingsError, match="TIDINGS_GATEWAY_STATIC_TOKENS"):
        start_gateway(gateway_static_tokens=json.dumps({ALERT_TOKEN: {"subject": "a", "tenants": 5}}))
    gateway = start_gateway(gateway_static_tokens=json.dumps({
        ALERT_TOKEN: {"subject": "acme-sender", "scopes": ["send:email"], "tenants": ["acme"]}}))
    globex = {**ONE, "tenant": "globex"}
    assert gateway.request("POST", "/v1/notifications", ALERT_TOKEN, json=globex).status_code == 403
    assert gateway.request("POST", "/v1/notifications", ALERT_TOKEN, json=ONE).status_code == 202
    assert published_tenants(gateway) == ["acme"]


def test_notifications_are_published_only_for_the_tokens_tenants(gateway):
    other = gateway.request("POST", "/v1/notifications", acme(), json={**ONE, "tenant": "globex"})
    assert other.status_code == 403 and "globex" in other.json()["error"] and other.json()["field"] == "tenant"
    mixed = [{**ONE, "tenant": "acme"}, {**ONE, "tenant": "globex"}]
    assert gateway.request("POST", "/v1/notifications", acme(), json=mixed).status_code == 403  # all or nothing
    assert published_tenants(gateway) == []

    assert gateway.request("POST", "/v1/notifications", acme(), json={**ONE, "tenant": "acme"}).status_code == 202
    assert gateway.request("POST", "/v1/notifications", acme(), json=ONE).status_code == 202  # its one tenant
    both = make_token("platform", tenants=["acme", "globex"])
    assert gateway.request("POST", "/v1/notifications", both, json=ONE).status_code == 403  # "default": not its own
    assert gateway.request("POST", "/v1/notifications", both, json={**ONE, "tenant": "globex"}).status_code == 202
    assert published_tenants(gateway) == ["acme", "acme", "globex"]


def delivered(tenant: str | None, at: datetime) -> tuple[str, list[dict]]:
    """A notification's recorded events (queued, then sent), as the sink writes them."""
    notification_id, delivery = str(uuid.uuid4()), uuid.uuid4()
    base = {"notification_id": notification_id, "tenant": tenant, "occurred_at": at}
    later = {**base, "occurred_at": at + timedelta(seconds=2)}
    return notification_id, [event(delivery, "queued", **base),
                             event(delivery, "sent", attempt=1, provider="smtp", **later)]


def test_timelines_and_statistics_show_only_the_tokens_tenants(gateway, pipeline):
    at = datetime.now(timezone.utc) - timedelta(minutes=10)
    ours, ours_events = delivered("acme", at)
    theirs, theirs_events = delivered("globex", at)
    nobodys, nobodys_events = delivered(None, at)  # e.g. poison input: no tenant is known
    record(pipeline.database_url, ours_events + theirs_events + nobodys_events)

    mine = gateway.request("GET", f"/v1/notifications/{ours}", acme())
    assert mine.status_code == 200 and [e["status"] for e in mine.json()["events"]] == ["queued", "sent"]
    unknown = str(uuid.uuid4())
    for hidden in (theirs, nobodys, unknown):
        answer = gateway.request("GET", f"/v1/notifications/{hidden}", acme())
        # Another tenant's notification is answered exactly as one never recorded: nothing leaks.
        assert answer.status_code == 404, answer.text
        assert answer.json() == {"error": f"nothing is recorded for notification {hidden} (yet)",
                                 "field": "notification_id"}
    everyone = make_token("ops")
    assert gateway.request("GET", f"/v1/notifications/{theirs}", everyone).status_code == 200
    assert gateway.request("GET", f"/v1/notifications/{nobodys}", everyone).status_code == 200

    stats = gateway.request("GET", "/v1/stats", acme(), params={"since": "1h", "by": "tenant"}).json()
    assert (stats["totals"]["total"], stats["totals"]["sent"]) == (1, 1)
    assert [(g["tenant"], g["total"]) for g in stats["groups"]] == [("acme", 1)]
    all_stats = gateway.request("GET", "/v1/stats", everyone, params={"since": "1h", "by": "tenant"}).json()
    assert all_stats["totals"]["total"] == 3
    assert sorted((g["tenant"] or "", g["total"]) for g in all_stats["groups"]) == [("", 1), ("acme", 1), ("globex", 1)]


def test_dead_letters_are_listed_and_replayed_only_for_the_tokens_tenants(gateway, pipeline):
    dead = DeadLetters(pipeline)
    ours = [dead.channel(channel_message("webhook")) for _ in range(2)]  # tenant acme
    theirs = dead.channel({**channel_message("webhook"), "tenant": "globex"})
    dead.undecodable()  # no tenant can be read from it
    dead.flush()

    listed = gateway.request("GET", "/v1/dlq", acme()).json()
    assert (listed["total"], listed["matching"]) == (2, 2)
    assert {s["notification_id"] for s in listed["samples"]} == {m["notification_id"] for m in ours}
    assert gateway.request("GET", "/v1/dlq", make_token(tenants=["globex"])).json()["total"] == 1
    assert gateway.request("GET", "/v1/dlq", make_token("ops")).json()["total"] == 4

    replayed = wait_for_job(gateway, acme(), start_replay(gateway, acme(), {})[1])
    assert replayed["state"] == "done" and replayed["replayed"] == 2, replayed
    assert len(ledger_rows(pipeline.database_url)) == 2
    codec = Codec.from_settings(pipeline)
    origin = Topics(pipeline.topic_prefix).channel("webhook", "high")
    republished = [codec.decode(CHANNEL_MESSAGE, m.value()) for m in read_topic(pipeline, origin, idle_s=1.0)]
    assert sorted(str(m["notification_id"]) for m in republished) == sorted(m["notification_id"] for m in ours)
    dry = gateway.request("POST", "/v1/dlq/replay", make_token(tenants=["globex"]), json={"dry_run": True}).json()
    assert (dry["matching"], dry["would_replay"]) == (1, 1)
    assert theirs["tenant"] == "globex"


def test_what_all_tenants_share_needs_a_token_for_every_tenant(gateway, pipeline):
    token = acme("acme-admin")
    calls = [("GET", "/v1/templates", None), ("GET", "/v1/templates/invoice", None),
             ("PUT", "/v1/templates/invoice", INVOICE), ("POST", "/v1/templates", {**INVOICE, "name": "x"}),
             ("DELETE", "/v1/templates/invoice", None),
             ("GET", "/v1/recipients/user-1", None), ("PUT", "/v1/recipients/user-1", {"email": "a@example.com"}),
             ("DELETE", "/v1/recipients/user-1", None), ("GET", "/v1/recipients/user-1/preferences", None),
             ("PUT", "/v1/recipients/user-1/preferences", {"enabled": False}),
             ("POST", "/v1/unsubscribe-links", {"recipient_id": "user-1"})]
    for method, path, body in calls:
        refused = gateway.request(method, path, token, json=body)
        assert refused.status_code == 403 and '"*"' in refused.json()["error"], f"{method} {path}: {refused.text}"
    with psycopg.connect(pipeline.database_url) as conn:
        for table in ("templates", "recipients", "preferences"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
    everyone = make_token("ops")
    assert gateway.request("PUT", "/v1/recipients/user-1", everyone, json={"email": "a@example.com"}).status_code == 200
    assert gateway.request("GET", "/v1/recipients/user-1", token).status_code == 403


def test_alertmanager_publishes_only_for_the_routes_its_token_acts_for(start_gateway):
    routes = [{"match": {"team": "db"}, "channels": ["email"], "recipient": {"id": "db", "email": "db@example.com"},
               "tenant": "acme"},
              {"match": {}, "channels": ["email"], "recipient": {"id": "ops", "email": "ops@example.com"}}]
    gateway = start_gateway(gateway_alertmanager_routes=json.dumps(routes), gateway_static_tokens=json.dumps(
        {ALERT_TOKEN: {"subject": "acme-alertmanager", "scopes": ["alertmanager"], "tenants": ["acme"]}}))
    firing = json.loads((Path(__file__).parent / "fixtures" / "alertmanager_firing.json").read_text())
    assert gateway.request("POST", "/v1/alertmanager", ALERT_TOKEN, json=firing).status_code == 202
    elsewhere = {**firing, "groupKey": "{}:{alertname=\"DiskFull\"}", "groupLabels": {"alertname": "DiskFull"},
                 "commonLabels": {"alertname": "DiskFull"},
                 "alerts": [{**alert, "labels": {"alertname": "DiskFull", "severity": "warning"}}
                            for alert in firing["alerts"]]}
    refused = gateway.request("POST", "/v1/alertmanager", ALERT_TOKEN, json=elsewhere)  # the default route's tenant
    assert refused.status_code == 403 and "default" in refused.json()["error"]
    assert published_tenants(gateway) == ["acme"]
    with psycopg.connect(gateway.settings.database_url) as conn:  # the refused group left no state behind
        assert conn.execute("SELECT group_key FROM alertmanager_groups").fetchall() == [(firing["groupKey"],)]
