"""Every metric an alert or a dashboard panel uses is exported by the code, with the labels the
expression uses, and is set somewhere outside its declaration; docs/observability.md documents each
one, and no page names a metric nothing exports."""
from __future__ import annotations

import json
import re

import yaml

from prometheus_client import CollectorRegistry

from channels.inapp.metrics import InboxMetrics
from consumer.metrics import ServiceMetrics
from gateway.metrics import GatewayMetrics
from tests.deploy.conftest import DEPLOY, ROOT
from tests.deploy.promql import PROMETHEUS_SERIES, TARGET_LABELS, exported, labels_in, metrics_in

SOURCES = [path for folder in ("consumer", "router", "channels", "tracking", "gateway", "cli")
           for path in (ROOT / folder).rglob("*.py")]


def catalogue() -> dict[str, set[str]]:
    inbox = CollectorRegistry()
    InboxMetrics(inbox)  # the inbox's feed API adds these to the gateway's registry when it starts
    return {**exported([ServiceMetrics("probe").registry, GatewayMetrics().registry, inbox]), **PROMETHEUS_SERIES}


def expressions() -> list[tuple[str, str]]:
    """(where, PromQL) for every alert rule and every dashboard target."""
    found = []
    for group in yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]:
        found += [(f"alert {rule['alert']}", rule["expr"]) for rule in group["rules"]]
    for path in (DEPLOY / "grafana" / "dashboards").glob("*.json"):
        for panel in json.loads(path.read_text())["panels"]:
            found += [(f"{path.name} panel {panel['title']!r}", t["expr"]) for t in panel.get("targets", [])]
    return found


def test_the_expression_reader_is_not_fooled():
    expr = 'sum by (channel) (rate(tidings_delivery_events_total{status=~"sent|failed"}[5m])) > 0.1 or up == 0'
    assert metrics_in(expr) == {"tidings_delivery_events_total", "up"}
    assert labels_in(expr) == {"channel", "status"}


def test_every_alert_and_panel_metric_is_exported_with_its_labels():
    known = catalogue()
    assert len(expressions()) > 20
    for where, expr in expressions():
        used = metrics_in(expr)
        assert used, f"{where}: no metric found in {expr!r}"
        for name in used:
            assert name in known, f"{where}: {name} is not exported by any Tidings process"
        labels = set().union(*(known[name] for name in used)) | TARGET_LABELS
        assert labels_in(expr) <= labels, f"{where}: labels {labels_in(expr) - labels} exist on none of {used}"


def test_every_metric_used_by_an_alert_is_set_by_the_code():
    """Declared is not enough: the attribute must be used outside its declaration."""
    metrics = ServiceMetrics("probe")
    attribute_of = {}
    for attribute, collector in vars(metrics).items():
        for name in getattr(collector, "_name", None) and [collector._name] or []:
            attribute_of[name] = attribute
    code = "\n".join(path.read_text() for path in SOURCES)
    for where, expr in expressions():
        for name in metrics_in(expr) - set(PROMETHEUS_SERIES):
            base = re.sub(r"_(total|bucket|count|sum)$", "", name)
            attribute = attribute_of.get(base)
            if attribute is None:
                continue  # a gateway metric: GatewayMetrics is checked by the gateway's own tests
            uses = re.findall(rf"\.{attribute}\b(?!\s*=[^=])", code)
            assert uses, f"{where}: {name} (ServiceMetrics.{attribute}) is never set anywhere"


def test_the_docs_document_every_metric():
    observability = (ROOT / "docs" / "observability.md").read_text()
    families = {re.sub(r"_(bucket|count|sum|created)$", "", name) for name in catalogue()} - set(PROMETHEUS_SERIES)
    families = {name for name in families if not (name + "_total") in families}  # counters: the _total name
    for name in families:
        assert f"`{name}" in observability, f"docs/observability.md does not document {name}"
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for page in pages:
        for name in set(re.findall(r"\btidings_[a-z_]+", page.read_text())):
            assert name in catalogue() or name + "_total" in catalogue() or name.endswith("_"), \
                f"{page.relative_to(ROOT)} mentions {name}, which nothing exports"


def test_every_service_metric_passes_promtool_lint(prom_tools):
    """`promtool check metrics` (naming, units, help text) on a registry where every metric has a sample."""
    import subprocess

    from prometheus_client import Counter, Gauge, Histogram, generate_latest

    metrics = ServiceMetrics("probe")
    for collector in vars(metrics).values():
        if not isinstance(collector, (Counter, Gauge, Histogram)):
            continue
        child = collector.labels(*["x"] * len(collector._labelnames)) if collector._labelnames else collector
        {Counter: lambda c: c.inc(), Gauge: lambda c: c.set(1), Histogram: lambda c: c.observe(0.1)}[type(collector)](child)
    text = generate_latest(metrics.registry).decode()
    result = subprocess.run([prom_tools["promtool"], "check", "metrics"], input=text, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    bad = subprocess.run([prom_tools["promtool"], "check", "metrics"], capture_output=True, text=True,
                         input="# HELP tidings_things things\n# TYPE tidings_things counter\ntidings_things 1\n")
    assert bad.returncode != 0  # the lint can fail: a counter without _total
