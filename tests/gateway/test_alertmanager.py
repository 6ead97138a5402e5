"""POST /v1/alertmanager with Alertmanager's own payloads (version 4, a group of three alerts,
firing then resolved): one notification per group routed by labels, priority from severity,
deduplicated on the group's content (its alerts' fingerprints and states)."""
from __future__ import annotations

import json
from pathlib import Path

from consumer.codec import Codec
from consumer.events import NOTIFICATION
from tests.gateway.conftest import ALERTMANAGER_TOKEN
from tests.pipeline import read_topic

FIXTURES = Path(__file__).parent / "fixtures"


def payload(name: str, **changes) -> dict:
    return {**json.loads((FIXTURES / f"alertmanager_{name}.json").read_text()), **changes}


def all_events(gateway) -> list[dict]:
    codec = Codec.from_settings(gateway.settings)
    topics = gateway.app.state.gateway.topics
    return [codec.decode(NOTIFICATION, m.value()) for p in ("urgent", "high", "normal", "low")
            for m in read_topic(gateway.settings, topics.events(p), idle_s=1.0)]


def post(gateway, body: dict):
    return gateway.request("POST", "/v1/alertmanager", ALERTMANAGER_TOKEN, json=body)


def test_firing_group_becomes_one_routed_notification(gateway):
    response = post(gateway, payload("firing"))
    assert response.status_code == 202, response.text
    [event] = all_events(gateway)
    assert str(event["id"]) == response.json()["id"]
    assert event["priority"] == "URGENT"  # the most severe alert of the group is critical
    assert event["channels"] == ["slack"] and event["recipient"]["slack"] == "C0DB"  # route team=db
    assert event["source"] == "alertmanager" and event["category"] == "alert"
    content = event["content"]["default"]
    assert content["subject"].startswith("[FIRING:3] PostgresReplicationLag")
    for summary in ("db-1 replica is 45s behind", "db-2 replica is 10m behind", "db-3 replica is 50s behind"):
        assert summary in content["text"]
    data = json.loads(event["data"])["alertmanager"]
    assert [a["fingerprint"] for a in data["alerts"]] == ["a1b2c3d4e5f60001", "a1b2c3d4e5f60002", "a1b2c3d4e5f60003"]


def test_repeats_are_deduplicated_and_each_status_change_notifies(gateway):
    statuses = [post(gateway, payload(name)).status_code
                for name in ("firing", "firing", "resolved", "resolved", "firing")]
    assert statuses == [202, 200, 202, 200, 202]
    events = all_events(gateway)
    subjects = sorted(e["content"]["default"]["subject"].split("]")[0] for e in events)
    assert subjects == ["[FIRING:3", "[FIRING:3", "[RESOLVED:3"]
    assert gateway.metrics.alertmanager.labels("duplicate")._value.get() == 2


def test_an_alert_joining_a_firing_group_notifies_and_a_reordered_repeat_does_not(gateway):
    """Alertmanager sends a group again when an alert joins it; the status stays `firing`."""
    first = payload("firing")
    first["alerts"] = first["alerts"][:2]
    joined = payload("firing")  # the third replica starts lagging: same groupKey, same status
    repeat = {**joined, "alerts": list(reversed(joined["alerts"]))}
    repeat["alerts"][0] = {**repeat["alerts"][0], "startsAt": "2026-11-25T10:00:00.000Z"}  # timestamps are not content
    one_resolved = payload("firing")
    one_resolved["alerts"][0] = {**one_resolved["alerts"][0], "status": "resolved"}
    statuses = [post(gateway, body).status_code for body in (first, joined, repeat, one_resolved, one_resolved)]
    assert statuses == [202, 202, 200, 202, 200]
    events = all_events(gateway)
    assert sorted(e["content"]["default"]["subject"].split("]")[0] for e in events) == ["[FIRING:2", "[FIRING:3", "[FIRING:3"]
    texts = [e["content"]["default"]["text"] for e in events]
    assert any("db-3 replica is 50s behind" in t for t in texts)
    assert any("- [resolved] db-1 replica is 45s behind" in t for t in texts)


def test_alerts_without_fingerprints_are_told_apart_by_their_labels(gateway):
    def without_fingerprints(body):
        return {**body, "alerts": [{k: v for k, v in a.items() if k != "fingerprint"} for a in body["alerts"]]}
    first = payload("firing")
    first["alerts"] = first["alerts"][:1]
    statuses = [post(gateway, without_fingerprints(body)).status_code
                for body in (first, payload("firing"), payload("firing"))]
    assert statuses == [202, 202, 200]


def test_other_labels_take_the_catch_all_route_and_severity_maps_to_priority(gateway):
    body = payload("firing", groupKey='{}:{alertname="DiskFull"}', commonLabels={"alertname": "DiskFull"},
                   groupLabels={"alertname": "DiskFull"})
    body["alerts"] = [{**body["alerts"][0], "labels": {"alertname": "DiskFull", "severity": "info"}}]
    assert post(gateway, body).status_code == 202
    [event] = all_events(gateway)
    assert event["channels"] == ["email"] and event["recipient"]["email"] == "ops@example.com"
    assert event["priority"] == "NORMAL"


def test_bad_payloads_and_unrouted_groups_are_refused_by_field(start_gateway):
    gateway = start_gateway(gateway_alertmanager_routes=json.dumps(
        [{"match": {"team": "db"}, "channels": ["slack"], "recipient": {"id": "db", "slack": "C0DB"}}]))
    cases = [
        (payload("firing", version="3"), "version"),
        (payload("firing", status="burning"), "status"),
        (payload("firing", alerts=[]), "alerts"),
        (payload("firing", groupKey=""), "groupKey"),
        (payload("firing", commonLabels={"team": "web"}, groupLabels={}), "commonLabels"),
    ]
    for body, field in cases:
        response = post(gateway, body)
        assert (response.status_code, response.json()["field"]) == (422, field), response.text
    assert all_events(gateway) == []


def test_routing_settings_are_checked_at_start():
    import pytest

    from consumer.settings import Settings, SettingsError
    from gateway.alert_routes import AlertRoutes

    for bad in ('{"not": "a list"}', '[{"channels": ["fax"], "recipient": {"id": "x"}}]',
                '[{"channels": ["email"], "recipient": {}}]', "not json"):
        with pytest.raises(SettingsError, match="TIDINGS_GATEWAY_ALERTMANAGER_ROUTES"):
            AlertRoutes.from_settings(Settings(gateway_alertmanager_routes=bad))
    with pytest.raises(SettingsError, match="TIDINGS_GATEWAY_ALERTMANAGER_PRIORITIES"):
        AlertRoutes.from_settings(Settings(gateway_alertmanager_priorities="critical=asap"))
    routes = AlertRoutes.from_settings(Settings())
    assert routes.priority_for(["warning", "critical", "unknown"]) == "urgent"
    assert routes.priority_for([]) == "normal"


def test_concurrent_deliveries_of_one_group_publish_once(gateway):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(lambda _: post(gateway, payload("firing")).status_code, range(6)))
    assert statuses == [200] * 5 + [202]
    assert len(all_events(gateway)) == 1
