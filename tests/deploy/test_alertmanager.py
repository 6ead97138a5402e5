"""deploy/alertmanager/alertmanager.yml: valid for `amtool check-config`, routes each severity
where its comments say, inhibits only alerts that exist, and points its Tidings receiver at the
gateway's real Alertmanager endpoint in docker-compose.yml."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, ROOT, run_tool

ALERTMANAGER = DEPLOY / "alertmanager"


def config() -> dict:
    return yaml.safe_load((ALERTMANAGER / "alertmanager.yml").read_text())


def test_config_is_valid(prom_tools):
    result = run_tool([prom_tools["amtool"], "check-config", "alertmanager.yml"], cwd=ALERTMANAGER)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_check_rejects_a_broken_config(prom_tools, tmp_path):
    broken = config()
    broken["route"]["receiver"] = "nobody"
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(broken))
    result = run_tool([prom_tools["amtool"], "check-config", "alertmanager.yml"], cwd=tmp_path)
    assert result.returncode != 0 and "nobody" in result.stdout + result.stderr


@pytest.mark.parametrize("labels, receivers", [
    (["severity=page", "alertname=TidingsConsumerLagHigh"], "oncall,tidings"),  # paged outside Tidings too
    (["severity=ticket", "alertname=TidingsDeadLettersGrowing"], "tidings"),
    (["alertname=SomethingElse"], "tidings"),
])
def test_routing_by_severity(prom_tools, labels, receivers):
    result = run_tool([prom_tools["amtool"], "config", "routes", "test", "--config.file=alertmanager.yml",
                       f"--verify.receivers={receivers}", *labels], cwd=ALERTMANAGER)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers


def test_inhibitions_name_real_alerts():
    alerts = {rule["alert"] for group in yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]
              for rule in group["rules"]}
    for rule in config()["inhibit_rules"]:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            names = matcher.split("=", 1)[1].strip('~"').split("|")
            assert set(names) <= alerts, f"{matcher} names an alert that alerts.yml does not define"


def test_the_tidings_receiver_is_the_gateway_alertmanager_endpoint():
    from gateway.alertmanager import router

    (webhook,) = next(r for r in config()["receivers"] if r["name"] == "tidings")["webhook_configs"]
    url = urlsplit(webhook["url"])
    assert url.path in {route.path for route in router.routes}
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    gateway = compose[url.hostname]
    assert gateway["command"] == ["run", "gateway"]
    assert str(url.port) == gateway["environment"]["TIDINGS_GATEWAY_PORT"]
    # The token is read from a file the compose service mounts, not written in the config.
    assert webhook["http_config"]["authorization"]["credentials_file"].startswith("/etc/alertmanager/secrets/")
    assert any(v.endswith(":/etc/alertmanager/secrets:ro") for v in compose["alertmanager"]["volumes"])
