"""Just enough PromQL reading for the consistency tests: which metric names and label names an
expression uses, and which metrics (with their labels) the code exports."""
from __future__ import annotations

import re

from prometheus_client import CollectorRegistry

# Functions, aggregations and keywords that look like identifiers in PromQL.
KEYWORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values",
    "group", "rate", "irate", "increase", "delta", "idelta", "deriv", "histogram_quantile", "absent",
    "absent_over_time", "avg_over_time", "max_over_time", "min_over_time", "sum_over_time", "clamp_min",
    "clamp_max", "abs", "vector", "scalar", "time", "changes", "resets", "predict_linear", "label_replace",
    "by", "without", "and", "or", "unless", "on", "ignoring", "group_left", "group_right", "bool", "offset",
}
# Labels Prometheus adds from the scrape target (prometheus.yml / k8s relabelling).
TARGET_LABELS = {"instance", "job", "service"}
# Series Prometheus makes itself: never exported by Tidings, always present.
PROMETHEUS_SERIES = {"up": {"instance", "job", "service"}}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{([^}]*)\}")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENT = re.compile(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)")


def metrics_in(expr: str) -> set[str]:
    """Metric names an expression selects."""
    text = _MATCHERS.sub(" ", _STRING.sub('""', expr))
    text = _GROUPING.sub(" ", _RANGE.sub(" ", text))
    return {name for name in _IDENT.findall(text) if name not in KEYWORDS and not re.fullmatch(r"[0-9eE]+", name)}


def labels_in(expr: str) -> set[str]:
    """Label names an expression matches on or groups by."""
    text = _STRING.sub('""', expr)
    labels = {label for body in _MATCHERS.findall(text) for label in _MATCHER_LABEL.findall(body)}
    for body in _GROUPING.findall(text):
        labels |= {part.strip() for part in body.split(",") if part.strip()}
    return labels - {"__name__"}


def exported(registries: list[CollectorRegistry]) -> dict[str, set[str]]:
    """Every sample name the registries can expose (counters with _total, histograms with
    _bucket/_count/_sum), each with its label names."""
    names: dict[str, set[str]] = {}
    for registry in registries:
        for name, collector in registry._names_to_collectors.items():  # no public listing
            labels = set(getattr(collector, "_labelnames", ()))
            names[name] = labels | ({"le"} if name.endswith("_bucket") else set())
    return names
