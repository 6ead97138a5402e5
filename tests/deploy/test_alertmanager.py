"""deploy/alertmanager/alertmanager.yml: valid for `amtool check-config`, routes each severity
where its comments say, inhibits only alerts that exist, and points its Tidings receiver at the
gateway's real Alertmanager endpoint in docker-compose.yml, whose routes and priority map take
every shipped alert (one severity vocabulary from the rules to the notification's priority)."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, ROOT, gateway_environment, run_tool

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
    (["severity=critical", "alertname=TidingsConsumerLagHigh"], "oncall,tidings"),  # paged outside Tidings too
    (["severity=warning", "alertname=TidingsDeadLettersGrowing"], "tidings"),
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


def shipped_rules() -> list[dict]:
    groups = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def compose_alert_routes():
    from consumer.settings import Settings
    from gateway.alert_routes import AlertRoutes
    from gateway.settings import GatewaySettings

    gateway = gateway_environment()
    settings = Settings(gateway_alertmanager_routes=gateway["TIDINGS_GATEWAY_ALERTMANAGER_ROUTES"],
                        gateway_alertmanager_priorities=gateway.get("TIDINGS_GATEWAY_ALERTMANAGER_PRIORITIES",
                                                                    GatewaySettings().gateway_alertmanager_priorities))
    return AlertRoutes.from_settings(settings)


def test_one_severity_vocabulary_from_the_rules_to_the_priority():
    """A `critical` alert must page: URGENT with the gateway's default map and with compose's."""
    from consumer.settings import Settings
    from gateway.alert_routes import AlertRoutes

    wanted = {"critical": "urgent", "warning": "high"}
    severities = {rule["labels"]["severity"] for rule in shipped_rules()}
    assert severities == set(wanted)
    for routes in (AlertRoutes.from_settings(Settings()), compose_alert_routes()):
        assert severities <= set(routes.priorities), f"severities the priority map does not know: {severities}"
        assert {s: routes.priority_for([s]) for s in severities} == wanted
    routed = {m.split("=", 1)[1].strip('~"') for r in config()["route"]["routes"] for m in r["matchers"]}
    assert {part for value in routed for part in value.split("|")} == severities


def test_compose_routes_turn_every_shipped_alert_into_a_valid_notification():
    """docker-compose.yml's TIDINGS_GATEWAY_ALERTMANAGER_ROUTES takes every group alerts.yml can make."""
    from consumer.notification_json import notification_from_json
    from gateway.alertmanager import alert_group, notification_of

    routes = compose_alert_routes()
    for rule in shipped_rules():
        labels = {"alertname": rule["alert"], "service": "channel-email", **rule["labels"]}
        payload = {"version": "4", "groupKey": f"{{}}:{{alertname={rule['alert']!r}}}", "status": "firing",
                   "groupLabels": {"alertname": rule["alert"]}, "commonLabels": labels, "commonAnnotations": {},
                   "alerts": [{"status": "firing", "labels": labels, "annotations": {"summary": "s"}}]}
        notification = notification_from_json(notification_of(alert_group(payload), routes, "alertmanager"))
        assert notification["channels"], rule["alert"]
