"""deploy/k8s against the code: each container runs a command the real CLI accepts, ports match
the settings, Services select their Deployments, configuration comes from the ConfigMap and
Secret (no secret in the ConfigMap), and KEDA scales each consumer on its real group and topics."""
from __future__ import annotations

import contextlib
import io
import shlex

import pytest
import yaml

from channels.worker import ChannelWorker
from cli.main import build_parser
from consumer.metrics import ServiceMetrics
from consumer.settings import Settings
from consumer.topics import Topics
from consumer.channel_specs import channel_names
from router.service import RouterService
from tests.deploy.conftest import DEPLOY
from tracking.sink import SinkService

K8S = DEPLOY / "k8s"
CONSUMERS = ["router", *(f"channel-{c}" for c in channel_names()), "sink"]
SECRET_WORDS = ("PASSWORD", "TOKEN", "SECRET", "DATABASE_URL", "AUTH", "CREDENTIALS", "SID")


def documents() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def of_kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents() if d["kind"] == kind}


def config() -> dict[str, str]:
    return of_kind("ConfigMap")["tidings-config"]["data"]


def every_setting() -> set[str]:
    """The fields of every owner's settings model (the runtime's, each channel's, the gateway's)."""
    import gateway.settings  # noqa: F401 - registers the gateway's model
    from consumer.settings import known_sections

    return {name for model in known_sections() for name in model.model_fields}


def settings() -> Settings:
    """The Settings a pod gets from the ConfigMap (names TIDINGS_X -> field x)."""
    fields = {k.removeprefix("TIDINGS_").lower(): v for k, v in config().items()}
    known = every_setting()
    unknown = set(fields) - known
    assert not unknown, f"ConfigMap keys that are no setting: {unknown}"
    return Settings.load({f"TIDINGS_{k.upper()}": v for k, v in fields.items()})  # each owner parses its own


def group_and_topics(name: str) -> tuple[str, list[str]]:
    """The consumer group and main topics of a service, from the service classes themselves."""
    s, metrics = settings(), ServiceMetrics("probe")
    if name == "router":
        service = RouterService(s, metrics)
        return service.group_id, service.topics
    if name == "sink":
        service = SinkService(s, metrics)
        return service.group_id, service.topics
    channel = name.removeprefix("channel-")
    worker = ChannelWorker(channel, None, s, metrics)
    return worker.group_id, Topics(s.topic_prefix).all_channel(channel)


def container(deployment: dict) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def argvs(spec: dict) -> list[list[str]]:
    """The `tidings` argument lists a container runs (image entrypoint `tidings`, or sh -c "a && b")."""
    if spec.get("command") == ["sh", "-c"]:
        steps = [shlex.split(step) for step in spec["args"][0].split("&&")]
        assert all(step[0] == "tidings" for step in steps), steps
        return [step[1:] for step in steps]
    assert "command" not in spec, "override args only; the image's entrypoint is `tidings`"
    return [spec["args"]]


def accepted(argv: list[str]) -> bool:
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            build_parser().parse_args(argv)
    except SystemExit:
        return False
    return True


def test_a_deployment_and_metrics_service_per_service():
    deployments, services = of_kind("Deployment"), of_kind("Service")
    for name in [*CONSUMERS, "gateway"]:
        assert f"tidings-{name}" in deployments, name
    for name in CONSUMERS:
        service = services[f"tidings-{name}-metrics"]
        labels = deployments[f"tidings-{name}"]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items(), name
        assert deployments[f"tidings-{name}"]["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_every_container_command_exists_in_the_cli():
    workloads = list(of_kind("Deployment").values()) + list(of_kind("Job").values())
    workloads += [{"spec": {"template": c["spec"]["jobTemplate"]["spec"]["template"]}} for c in of_kind("CronJob").values()]
    run = []
    for workload in workloads:
        for argv in argvs(container(workload)):
            assert accepted(argv), f"`tidings {shlex.join(argv)}` is rejected by the CLI"
            run.append(argv)
    assert ["run", "channel", "sms"] in run and ["db", "prune", "--older-than", "90d"] in run
    assert not accepted(["run", "channel", "fax"])  # the check can fail


def test_ports_and_probes_match_the_settings():
    port = int(config()["TIDINGS_METRICS_PORT"])
    for name in CONSUMERS:
        deployment = of_kind("Deployment")[f"tidings-{name}"]
        spec = container(deployment)
        assert {p["name"]: p["containerPort"] for p in spec["ports"]} == {"metrics": port}
        assert spec["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        service = of_kind("Service")[f"tidings-{name}-metrics"]
        assert service["spec"]["ports"][0]["targetPort"] == "metrics"
        assert service["metadata"]["annotations"]["prometheus.io/port"] == str(port)
        grace = float(config()["TIDINGS_SHUTDOWN_GRACE_S"])
        assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace
    gateway = container(of_kind("Deployment")["tidings-gateway"])
    assert gateway["ports"][0]["containerPort"] == int(config()["TIDINGS_GATEWAY_PORT"])


def test_configuration_from_configmap_and_secret_and_no_secret_in_the_configmap():
    settings()  # every key is a real setting with a valid value
    for key in config():
        assert not any(word in key for word in SECRET_WORDS), f"{key} belongs in the Secret"
    secret = of_kind("Secret")["tidings-secrets"]["stringData"]
    known = {f"TIDINGS_{name.upper()}" for name in every_setting()}
    assert set(secret) <= known, set(secret) - known
    for deployment in of_kind("Deployment").values():
        refs = container(deployment)["envFrom"]
        assert {"configMapRef": {"name": "tidings-config"}} in refs and {"secretRef": {"name": "tidings-secrets"}} in refs


@pytest.mark.parametrize("name", CONSUMERS)
def test_keda_scales_each_consumer_on_its_real_group_and_lanes(name):
    scaled = of_kind("ScaledObject")[f"tidings-{name}"]
    assert scaled["spec"]["scaleTargetRef"]["name"] in of_kind("Deployment")
    group, topics = group_and_topics(name)
    triggers = scaled["spec"]["triggers"]
    assert {t["type"] for t in triggers} == {"kafka"}
    assert {t["metadata"]["consumerGroup"] for t in triggers} == {group}
    assert sorted(t["metadata"]["topic"] for t in triggers) == sorted(topics)
    assert {t["metadata"]["bootstrapServers"] for t in triggers} == {config()["TIDINGS_BOOTSTRAP_SERVERS"]}
    assert scaled["spec"]["maxReplicaCount"] <= int(config()["TIDINGS_PARTITIONS"])


def test_kustomization_lists_every_manifest_but_the_secret_example():
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == files
