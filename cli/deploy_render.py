"""The deployment files that follow from the channel registry (consumer/channel_specs.py): a
Kubernetes Deployment per service and a KEDA ScaledObject per consumer group, the kustomization,
docker-compose.yml's Tidings services and the Prometheus scrape jobs. `tidings deploy render`
(cli/deploy.py) writes them; tests/deploy/test_generated.py fails when the committed ones differ.

A service is router, channel-<name> per channel, sink (Kafka consumers) or the gateway; its name
is its compose service, its Kubernetes component and the `service` label of its metrics."""
from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import jinja2

from cli import deploy_templates as templates
from consumer.channel_specs import ChannelSpec, registry
from consumer.topics import Topics

# The values of deploy/k8s/configmap.yaml that the manifests repeat (tests/deploy/test_k8s.py
# checks that they agree) and the ports docker-compose.yml gives the services.
K8S = {"image": "ghcr.io/example/tidings:0.1.0", "bootstrap_servers": "kafka-bootstrap.kafka.svc:9092",
       "partitions": 12, "metrics_port": 9400, "gateway_port": 8080, "shutdown_grace_s": 20}
COMPOSE = {"metrics_port": 9400, "gateway_port": 8080}
TOPIC_PREFIX = GROUP_PREFIX = "tidings"
K8S_DIR = "deploy/k8s"


@dataclass(frozen=True)
class Service:
    """One Tidings process kind as the deployment files see it."""

    name: str
    argv: tuple[str, ...]
    summary: str
    group: str | None = None          # its consumer group; None for the gateway
    topics: tuple[str, ...] = ()      # the main topics it consumes (KEDA's triggers)
    profile: str | None = None        # compose profile it waits behind
    environment: tuple[tuple[str, str], ...] = ()  # its own compose environment


def services(specs: Iterable[ChannelSpec] | None = None) -> list[Service]:
    """router, a channel worker per channel (registry order), sink, gateway. The router's and the
    sink's group and topics are read from the services themselves; a channel worker's are its
    group and its four priority lanes (its retry tiers wait for due times: more replicas would not
    make them due sooner)."""
    from cli.main import SERVICES  # the `tidings run` services and what each does
    from consumer.metrics import ServiceMetrics
    from consumer.settings import Settings
    from router.service import RouterService
    from tracking.sink import SinkService

    settings = Settings(topic_prefix=TOPIC_PREFIX, group_prefix=GROUP_PREFIX)
    router, sink = (kind(settings, ServiceMetrics(kind.name)) for kind in (RouterService, SinkService))
    topics = Topics(TOPIC_PREFIX)
    channels = [Service(f"channel-{spec.name}", ("run", "channel", spec.name), spec.summary,
                        f"{GROUP_PREFIX}.channel.{spec.name}", tuple(topics.all_channel(spec.name)),
                        spec.compose_profile, tuple(spec.compose_environment.items()))
                for spec in (registry().values() if specs is None else specs)]
    return [Service("router", ("run", "router"), SERVICES["router"][1], router.group_id, tuple(router.topics)),
            *channels,
            Service("sink", ("run", "sink"), SERVICES["sink"][1], sink.group_id, tuple(sink.topics)),
            Service("gateway", ("run", "gateway"), SERVICES["gateway"][1])]


def render(specs: Iterable[ChannelSpec] | None = None) -> dict[str, str]:
    """{path relative to the checkout: content} of every generated file."""
    every = services(specs)
    consumers = [s for s in every if s.group is not None]
    gateway = next(s for s in every if s.group is None)
    scraped_consumers = [s for s in consumers if s.profile is None]
    context = {"generated": templates.GENERATED.rstrip("\n"), "k8s": K8S, "compose": COMPOSE,
               "services": every, "consumers": consumers, "gateway": gateway,
               "profiled": [s for s in consumers if s.profile is not None],
               "scraped_consumers": scraped_consumers, "scraped": [*scraped_consumers, gateway],
               "running": _wrap(", ".join(s.name for s in [*scraped_consumers, gateway]), 90)}
    files = {f"{K8S_DIR}/{s.name}.yaml": _fill(templates.K8S_CONSUMER, context, s=s, header=_header(s))
             for s in consumers}
    files[f"{K8S_DIR}/gateway.yaml"] = _fill(templates.K8S_GATEWAY, context, s=gateway)
    files[f"{K8S_DIR}/keda.yaml"] = _fill(templates.K8S_KEDA, context)
    files[f"{K8S_DIR}/kustomization.yaml"] = _fill(templates.K8S_KUSTOMIZATION, context)
    files["docker-compose.yml"] = _fill(templates.COMPOSE, context)
    files["deploy/prometheus/prometheus.yml"] = _fill(templates.PROMETHEUS, context)
    return files


def generated_by_us(path: Path) -> bool:
    """A file this renderer wrote (it starts with the GENERATED note)."""
    try:
        with path.open(encoding="utf-8") as file:
            return file.read(len(templates.GENERATED)) == templates.GENERATED
    except (OSError, UnicodeDecodeError):
        return False


def stale(root: Path, rendered: dict[str, str]) -> list[str]:
    """Generated manifests under ROOT/deploy/k8s that nothing renders any more (a channel that went
    away): relative paths. Hand-written manifests never count."""
    return sorted(str(path.relative_to(root)) for path in (root / K8S_DIR).glob("*.yaml")
                  if str(path.relative_to(root)) not in rendered and generated_by_us(path))


def _header(service: Service) -> str:
    text = (f"tidings-{service.name}: {service.summary}. A Kafka consumer in group {service.group}; KEDA "
            f"scales it on that group's lag (keda.yaml). /metrics and /healthz on port {K8S['metrics_port']}.")
    return "\n".join(f"# {line}" for line in _wrap(text, 98))


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)


_ENVIRONMENT = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                                  undefined=jinja2.StrictUndefined, autoescape=False)
# YAML flow sequences and double-quoted scalars: JSON's string syntax is a subset of YAML's.
_ENVIRONMENT.filters["flow"] = lambda items: json.dumps(list(items))
_ENVIRONMENT.filters["scalar"] = json.dumps


def _fill(template: str, context: dict, **more) -> str:
    return _ENVIRONMENT.from_string(template).render(**context, **more)
