"""docker-compose.yml, the Dockerfile and deploy/prometheus/prometheus.yml, checked against the
real CLI parser and the code: no Docker engine runs here (the stack is never started by the tests),
so these checks are what keeps a renamed verb, port or file from rotting the stack."""
from __future__ import annotations

import contextlib
import io
import json
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from cli.main import build_parser
from consumer.channel_specs import channel_names, registry

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"

PIPELINE_SERVICES = ("router", *(f"channel-{s.name}" for s in registry().values() if not s.compose_profile), "sink")
# Run only with `--profile` (a channel that needs credentials); not scraped by default (a target
# that never runs would alert).
OPTIONAL_SERVICES = tuple(f"channel-{s.name}" for s in registry().values() if s.compose_profile)
MONITORING = ("prometheus", "alertmanager", "grafana")
SHELLS = ("sh", "/bin/sh", "bash", "/bin/bash")


# --- helpers ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def image_entrypoint() -> list[str]:
    """The Dockerfile's ENTRYPOINT (exec form), which compose uses unless a service overrides it."""
    lines = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith("ENTRYPOINT")]
    assert len(lines) == 1, "the Dockerfile needs exactly one ENTRYPOINT"
    return json.loads(lines[0].removeprefix("ENTRYPOINT"))


def tidings_services(services: dict) -> dict:
    """Services that run the Tidings image: those built from the Dockerfile, or using its tag."""
    built = {spec["image"] for spec in services.values() if "build" in spec and "image" in spec}
    return {name: spec for name, spec in services.items() if "build" in spec or spec.get("image") in built}


def tidings_argvs(name: str, spec: dict) -> list[list[str]]:
    """The `tidings` argument lists a service runs: entrypoint + command, or each `tidings ...`
    step of an `sh -c "a && b"` script."""
    entrypoint = spec.get("entrypoint", image_entrypoint())
    command = spec.get("command")
    assert command is not None, f"service {name!r} has no command"
    assert isinstance(command, list), f"service {name!r}: write command as a list, got {command!r}"
    if isinstance(entrypoint, str):
        entrypoint = shlex.split(entrypoint)
    argv = [*entrypoint, *command]
    assert all(isinstance(arg, str) for arg in argv), f"service {name!r}: non-string argument in {argv!r}"
    if argv[:1] == ["tidings"]:
        return [argv[1:]]
    if len(argv) == 3 and argv[0] in SHELLS and argv[1] == "-c":
        steps = [shlex.split(step) for step in argv[2].split("&&")]
        for step in steps:
            if step[:1] != ["tidings"]:
                pytest.fail(f"service {name!r}: shell step {shlex.join(step)!r} is not `tidings ...`")
        return [step[1:] for step in steps]
    pytest.fail(f"service {name!r} runs {argv!r}, neither `tidings ...` nor `sh -c \"tidings ... && ...\"`")


def assert_cli_accepts(argv: list[str], where: str) -> None:
    usage = io.StringIO()
    try:
        with contextlib.redirect_stderr(usage):
            build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"{where}: `tidings {shlex.join(argv)}` is rejected by the CLI parser "
                    f"(exit {exc.code}): {usage.getvalue().strip()}")


def environment(spec: dict) -> dict[str, str]:
    env = spec.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def depends_on(spec: dict) -> dict[str, str]:
    deps = spec.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (cond or {}).get("condition", "service_started") for name, cond in deps.items()}


def kafka_service(services: dict) -> str:
    names = [name for name, spec in services.items() if str(spec.get("image", "")).startswith("apache/kafka")]
    assert len(names) == 1, f"expected one apache/kafka service, found {names}"
    return names[0]


# --- the checks ------------------------------------------------------------------------------

def test_required_services_exist(services):
    for name in ("kafka", "postgres", "init", *PIPELINE_SERVICES, *OPTIONAL_SERVICES, "gateway", *MONITORING):
        assert name in services, f"docker-compose.yml has no service {name!r}"
    for spec in registry().values():
        profile = services[f"channel-{spec.name}"].get("profiles")
        assert profile == ([spec.compose_profile] if spec.compose_profile else None), spec.name
    assert services["channel-sms"].get("profiles") == ["sms"]  # it cannot start without credentials
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["postgres"]["image"].startswith("postgres:16")
    assert environment(services["postgres"])["POSTGRES_DB"] == "tidings"


def test_pipeline_services_use_the_tidings_image(services):
    ours = tidings_services(services)
    for name in ("init", *PIPELINE_SERVICES, *OPTIONAL_SERVICES, "gateway"):
        assert name in ours, f"service {name!r} does not run the image built from the Dockerfile"
    assert image_entrypoint() == ["tidings"]


def test_every_tidings_command_parses_with_the_real_cli(services):
    checked = []
    for name, spec in tidings_services(services).items():
        for argv in tidings_argvs(name, spec):
            assert_cli_accepts(argv, f"service {name!r}")
            checked.append(argv)
    assert ["run", "router"] in checked
    for channel in channel_names():
        assert ["run", "channel", channel] in checked
    assert ["run", "sink"] in checked and ["run", "gateway"] in checked


def test_init_creates_topics_then_migrates(services):
    steps = tidings_argvs("init", services["init"])
    assert [argv[:2] for argv in steps] == [["topics", "create"], ["db", "migrate"]]


def test_the_checker_rejects_a_bad_command():
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        build_parser().parse_args(["run", "nonexistent"])
    with pytest.raises(pytest.fail.Exception, match="rejected by the CLI parser"):
        assert_cli_accepts(["run", "nonexistent"], "a deliberately bad service")
    with pytest.raises(pytest.fail.Exception, match="not `tidings"):
        tidings_argvs("bad-init", {"entrypoint": ["sh", "-c"], "command": ["tidings db migrate && echo hi"]})


def test_tidings_services_reach_the_kafka_service(services):
    kafka = kafka_service(services)
    advertised = environment(services[kafka])["KAFKA_ADVERTISED_LISTENERS"]
    addresses = {listener.split("://", 1)[1] for listener in advertised.split(",")}
    for name, spec in tidings_services(services).items():
        bootstrap = environment(spec).get("TIDINGS_BOOTSTRAP_SERVERS")
        assert bootstrap, f"service {name!r} has no TIDINGS_BOOTSTRAP_SERVERS"
        for server in bootstrap.split(","):
            assert server.split(":")[0] == kafka, f"service {name!r}: {server} is not the {kafka!r} service"
            assert server in addresses, f"service {name!r}: {server} is not an advertised listener ({advertised})"


def test_database_url_points_at_postgres(services):
    database = environment(services["postgres"])["POSTGRES_DB"]
    for name in ("init", "sink", "gateway"):
        url = environment(services[name]).get("TIDINGS_DATABASE_URL")
        assert url, f"service {name!r} needs TIDINGS_DATABASE_URL"
        parts = urlsplit(url)
        assert parts.scheme in ("postgresql", "postgres")
        assert parts.hostname == "postgres" and parts.path == f"/{database}", url


def test_start_order_waits_for_health_and_init(services):
    for name in ("kafka", "postgres"):
        assert "healthcheck" in services[name], f"service {name!r} needs a healthcheck for service_healthy"
    assert depends_on(services["init"]) == {"kafka": "service_healthy", "postgres": "service_healthy"}
    for name in (*PIPELINE_SERVICES, "gateway"):
        deps = depends_on(services[name])
        assert deps.get("kafka") == "service_healthy", f"{name!r} must wait for a healthy kafka"
        assert deps.get("init") == "service_completed_successfully", f"{name!r} must wait for init"
    assert depends_on(services["sink"]).get("postgres") == "service_healthy"


def test_prometheus_scrapes_every_pipeline_service(services):
    mounts = [str(volume) for volume in services["prometheus"].get("volumes", [])]
    assert any(m.startswith("./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml") for m in mounts), mounts
    config = yaml.safe_load(PROMETHEUS.read_text())
    targets = [target
               for job in config["scrape_configs"]
               for static in job.get("static_configs", [])
               for target in static["targets"]]
    for target in targets:
        host = target.rsplit(":", 1)[0]
        assert host == "localhost" or host in services, f"scrape target {target} is not a compose service"
    for name in PIPELINE_SERVICES:
        port = environment(services[name]).get("TIDINGS_METRICS_PORT", "9400")
        assert f"{name}:{port}" in targets, f"prometheus does not scrape {name}:{port}"
    assert f"gateway:{environment(services['gateway'])['TIDINGS_GATEWAY_PORT']}" in targets
    for name in OPTIONAL_SERVICES:
        assert not any(t.startswith(f"{name}:") for t in targets), f"{name} runs only with a profile"


def test_scrape_labels_name_the_service_as_its_metrics_do(services):
    """The `service` target label must equal the `service` label the process exports (alerts
    join on it): router, channel-<name>, sink, as cli/services.py names their ServiceMetrics."""
    from cli import services as launcher
    source = Path(launcher.__file__).read_text()
    config = yaml.safe_load(PROMETHEUS.read_text())
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host = target.rsplit(":", 1)[0]
                if host in ("localhost", "gateway"):
                    continue
                assert static["labels"]["service"] == host, target
                wanted = "channel-{args.channel}" if host.startswith("channel-") else host
                assert f'ServiceMetrics(f"{wanted}")' in source or f'ServiceMetrics("{wanted}")' in source, host


def test_long_running_services_have_health_checks_on_their_ports(services):
    for name in (*PIPELINE_SERVICES, *OPTIONAL_SERVICES, "gateway"):
        check = " ".join(services[name]["healthcheck"]["test"])
        env = environment(services[name])
        port = env["TIDINGS_GATEWAY_PORT"] if name == "gateway" else env["TIDINGS_METRICS_PORT"]
        assert f"127.0.0.1:{port}/healthz" in check, (name, check)
    for name in ("kafka", "postgres"):
        assert "healthcheck" in services[name]


def test_monitoring_mounts_exist_and_load_the_rules(services):
    for name in MONITORING:
        for volume in services[name].get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
    prometheus_mounts = dict(v.split(":")[:2] for v in services["prometheus"]["volumes"])
    assert prometheus_mounts["./deploy/prometheus/alerts.yml"] == "/etc/prometheus/alerts.yml"
    alertmanager_mounts = dict(v.split(":")[:2] for v in services["alertmanager"]["volumes"])
    assert alertmanager_mounts["./deploy/alertmanager/alertmanager.yml"] == "/etc/alertmanager/alertmanager.yml"
    assert "9093:9093" in services["alertmanager"]["ports"] and "3000:3000" in services["grafana"]["ports"]


def test_no_secret_is_written_in_the_compose_file(services):
    """Tidings' secrets come from the environment (${VAR}), never a literal in the file."""
    for name, spec in tidings_services(services).items():
        for key, value in environment(spec).items():
            if any(word in key for word in ("PASSWORD", "TOKEN", "SECRET", "AUTH")):
                assert value.startswith("${") and value.endswith("}"), f"{name}: {key} is written in the file"
