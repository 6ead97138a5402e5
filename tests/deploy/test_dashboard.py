"""deploy/grafana: the dashboard covers what the issue asks for, is well formed for Grafana, and its
provisioning matches the compose mounts and the Prometheus datasource it names."""
from __future__ import annotations

import json

import yaml

from tests.deploy.conftest import DEPLOY, ROOT
from tests.deploy.promql import metrics_in

GRAFANA = DEPLOY / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "tidings.json"

# What each required view must query: (words in the panel title, a metric, a grouping label).
REQUIRED_VIEWS = [
    ("delivery rate", "tidings_delivery_events_total", "channel"),
    ("failure ratio", "tidings_delivery_events_total", "channel"),
    ("latency percentiles", "tidings_delivery_latency_seconds_bucket", "channel"),
    ("lag per lane", "tidings_consumer_lag", "topic"),
    ("dlq depth", "tidings_dead_lettered_deliveries", None),
    ("retries scheduled per tier", "tidings_retries_scheduled_total", "tier"),
]


def panels() -> list[dict]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def test_required_views_exist():
    for words, metric, label in REQUIRED_VIEWS:
        matching = [p for p in panels() if words in p["title"].lower()]
        assert matching, f"no panel titled like {words!r}"
        exprs = [t["expr"] for p in matching for t in p["targets"]]
        assert any(metric in metrics_in(e) and (label is None or label in e) for e in exprs), (words, exprs)


def test_latency_percentiles_are_p50_p95_p99():
    (panel,) = [p for p in panels() if "latency percentiles" in p["title"].lower()]
    quantiles = sorted(t["expr"].split("(", 1)[1].split(",", 1)[0] for t in panel["targets"])
    assert quantiles == ["0.5", "0.95", "0.99"]


def test_panels_are_well_formed_and_do_not_overlap():
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for p in dashboard["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, f"panel {p['title']!r} overlaps another"
        cells |= mine
    for p in panels():
        refs = [t["refId"] for t in p["targets"]]
        assert p["targets"] and len(refs) == len(set(refs)), p["title"]


def test_provisioning_matches_compose_and_the_datasource():
    datasource = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = datasource["datasources"]
    uids = {t["datasource"]["uid"] for p in panels() for t in p["targets"]} | {p["datasource"]["uid"] for p in panels()}
    assert uids == {source["uid"]}
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert source["url"] == "http://prometheus:9090" and "9090:9090" in services["prometheus"]["ports"]
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "tidings.yml").read_text())["providers"][0]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in services["grafana"]["volumes"])
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
