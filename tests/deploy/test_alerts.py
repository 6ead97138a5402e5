"""deploy/prometheus: the alert rules pass `promtool check rules`, their unit tests pass
`promtool test rules`, those unit tests fail when a threshold is wrong, and the scrape
configuration passes `promtool check config`."""
from __future__ import annotations

import shutil

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, run_tool

PROMETHEUS = DEPLOY / "prometheus"

# What the issue asks the rules to cover, by alert name.
REQUIRED_ALERTS = {
    "TidingsDeliveryFailureRatioHigh",   # delivery failure ratio above 10% over 5 minutes
    "TidingsConsumerLagHigh",            # consumer lag above 1,000 for 10 minutes
    "TidingsProcessingStalled",          # below 10 per minute while lag is positive
    "TidingsDeadLettersGrowing",         # dead-letter growth
    "TidingsConsumerGroupEmpty",         # a consumer group with no members
    "TidingsProviderCircuitOpen",        # a provider circuit open
    "TidingsSinkFallingBehind",          # the sink falling behind
    "TidingsHeldDeliveriesOverdue",      # scheduled or deferred work past its due time (issue 19)
    "TidingsEmailBounceRateHigh",        # hard bounces above 5% of emails sent (AWS SES's review threshold)
    "TidingsEmailComplaintRateHigh",     # complaints above 0.1% of emails sent (SES's review, Gmail's guideline)
}


def rules() -> list[dict]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_rules_are_valid(prom_tools):
    result = run_tool([prom_tools["promtool"], "check", "rules", "alerts.yml"], cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_rule_unit_tests_pass(prom_tools):
    result = run_tool([prom_tools["promtool"], "test", "rules", "alerts.test.yml"], cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("original, broken", [
    ("> 0.10\n", "> 0.50\n"),                                   # failure ratio threshold
    ("sum by (service, topic) (tidings_consumer_lag) > 1000", "sum by (service, topic) (tidings_consumer_lag) > 5000"),
    ("sum by (service) (tidings_assigned_partitions) == 0", "sum by (service) (tidings_assigned_partitions) < 0"),
    ("max by (status) (tidings_held_overdue_seconds) > 300", "max by (status) (tidings_held_overdue_seconds) > 900"),
    ("> 0.05\n", "> 0.50\n"),                                   # bounce rate threshold
    ("> 0.001\n", "> 0.01\n"),                                  # complaint rate threshold
    ("[6h])) >= 200\n", "[6h])) >= 0\n"),                        # the volume that makes a bounce rate
])
def test_rule_unit_tests_catch_a_wrong_threshold(prom_tools, tmp_path, original, broken):
    text = (PROMETHEUS / "alerts.yml").read_text()
    assert text.count(original) == 1
    (tmp_path / "alerts.yml").write_text(text.replace(original, broken))
    shutil.copy(PROMETHEUS / "alerts.test.yml", tmp_path / "alerts.test.yml")
    result = run_tool([prom_tools["promtool"], "test", "rules", "alerts.test.yml"], cwd=tmp_path)
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr


def test_every_required_alert_exists_and_is_tested():
    names = {rule["alert"] for rule in rules()}
    assert REQUIRED_ALERTS <= names, REQUIRED_ALERTS - names
    tested = {case["alertname"] for test in yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())["tests"]
              for case in test["alert_rule_test"]}
    assert names == tested, f"alerts without a unit test: {names - tested}"


def test_every_alert_has_a_severity_and_words_for_the_reader():
    for rule in rules():
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_scrape_configuration_is_valid(prom_tools):
    result = run_tool([prom_tools["promtool"], "check", "config", "prometheus.yml"], cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
