"""The alerting path as shipped, end to end with real processes: a channel worker (a child process,
as in production) -> real Prometheus with deploy/prometheus/ (prometheus.yml, alerts.yml) -> real
Alertmanager with deploy/alertmanager/alertmanager.yml -> the gateway configured as
docker-compose.yml configures it -> the notification on Kafka.

Only addresses, secrets and timers differ from the shipped files (tests/deploy/monitoring.py).
The phases build on each other (a burst of undecodable messages, then of permanent failures, then
the dead-letter limit trips), so the stack is shared by the module and each phase runs once."""
from __future__ import annotations

import json
import time
import uuid
from urllib.parse import urlsplit

import psycopg
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from consumer.codec import Codec
from consumer.events import CHANNEL_MESSAGE, NOTIFICATION, utcnow
from consumer.publisher import Publisher
from consumer.retry_tiers import all_tier_names
from consumer.settings import Settings
from gateway.settings import GatewaySettings
from consumer.topics import PRIORITIES, Topics, create_topics
from router.fanout import fan_out
from tests.deploy.conftest import gateway_environment
from tests.deploy.monitoring import start_alertmanager, start_prometheus
from tests.fixtures.postgres import with_dbname
from tests.fixtures.processes import Services
from tests.fixtures.receiver import WebhookReceiver
from tests.gateway.conftest import ALERTMANAGER_TOKEN, RunningGateway, gateway_settings
from tests.pipeline import make_notifications
from tracking.migrate import migrate

WORKER = "channel-webhook"
BURST = 12              # more than the 10 dead letters TidingsDeadLettersGrowing allows in 10 minutes
LIMIT = BURST + 1       # the dead-letter limit admits BURST permanent failures in a row, then holds


class Published:
    """The notifications the gateway published, read from the four event topics as they come."""

    def __init__(self, settings: Settings):
        self.codec = Codec.from_settings(settings)
        names = Topics(settings.topic_prefix)
        self.consumer = Consumer({**settings.kafka_common(), "group.id": f"alerts-{uuid.uuid4().hex[:6]}",
                                  "enable.auto.commit": False})
        self.consumer.assign([TopicPartition(names.events(p), i, OFFSET_BEGINNING)
                              for p in PRIORITIES for i in range(settings.partitions)])
        self.seen: list[dict] = []

    def close(self) -> None:
        self.consumer.close()

    def wait_for(self, what: str, predicate, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            found = [n for n in self.seen if predicate(n)]
            if found:
                return found[0]
            assert time.monotonic() < deadline, f"no notification {what}; published: {[subject(n) for n in self.seen]}"
            for message in self.consumer.consume(100, 0.5):
                if message.error() is None:
                    self.seen.append(self.codec.decode(NOTIFICATION, message.value()))


def subject(notification: dict) -> str:
    return notification["content"]["default"]["subject"]


def group_of(notification: dict) -> dict:
    return json.loads(notification["data"])["alertmanager"]


def firing(notification: dict, alertname: str) -> list[dict]:
    """Labels of the firing alerts of that name in the notification's group."""
    return [a["labels"] for a in group_of(notification)["alerts"]
            if a["status"] == "firing" and a["labels"]["alertname"] == alertname]


class Stack:
    def __init__(self, settings: Settings, worker, gateway, alertmanager, prometheus, published: Published):
        self.settings, self.worker, self.gateway = settings, worker, gateway
        self.alertmanager, self.prometheus, self.published = alertmanager, prometheus, published
        self.codec = Codec.from_settings(settings)
        self.names = Topics(settings.topic_prefix)
        self.done: dict[str, object] = {}

    def query(self, promql: str) -> list[dict]:
        answer = self.prometheus.get("/api/v1/query", query=promql)
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def wait_query(self, promql: str, timeout: float = 60) -> list[dict]:
        deadline = time.monotonic() + timeout
        while not (result := self.query(promql)):
            assert time.monotonic() < deadline, f"Prometheus has nothing for {promql}:\n{self.prometheus.log()}"
            time.sleep(0.5)
        return result

    def publish(self, values: list[bytes]) -> None:
        publisher = Publisher.from_settings(self.settings)
        for value in values:
            publisher.publish_sync(self.names.channel("webhook", "normal"), value, key=b"alerting")
        assert publisher.close(timeout=30) == 0

    def deliveries(self, count: int, url: str) -> list[bytes]:
        return [self.codec.encode(CHANNEL_MESSAGE, fan_out(n)[0].message) for n in make_notifications(count, url)]

    def once(self, phase: str, run):
        if phase not in self.done:
            self.done[phase] = run()
        return self.done[phase]


@pytest.fixture(scope="module")
def stack(prom_tools, kafka_bootstrap, postgres_server_url, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("alerting")
    run = uuid.uuid4().hex[:8]
    settings = Settings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"t{run}", group_prefix=f"g{run}",
                        partitions=2, session_timeout_ms=6000, metrics_host="127.0.0.1", retry_tiers="1s,2s")
    create_topics(AdminClient(settings.kafka_common()), Topics(settings.topic_prefix).all(all_tier_names(settings)),
                  settings.partitions)
    database = f"tidings_test_{run}"
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}" TEMPLATE template0')
    settings = settings.replace(database_url=with_dbname(postgres_server_url, database))
    migrate(settings.database_url)
    receiver, services, started = WebhookReceiver(), Services(settings, workdir), []
    receiver.status = 400  # permanent: every delivery is dead-lettered at once
    try:
        worker = services.start("run", "channel", "webhook", TIDINGS_DEAD_LETTER_MAX_CONSECUTIVE=str(LIMIT),
                                TIDINGS_DEAD_LETTER_COOLDOWN_S="600", TIDINGS_SHUTDOWN_GRACE_S="1")
        compose = gateway_environment()
        gateway = RunningGateway(gateway_settings(
            settings, gateway_alertmanager_routes=compose["TIDINGS_GATEWAY_ALERTMANAGER_ROUTES"],
            gateway_alertmanager_priorities=compose.get("TIDINGS_GATEWAY_ALERTMANAGER_PRIORITIES",
                                                        GatewaySettings().gateway_alertmanager_priorities)), utcnow)
        started.append(gateway)
        alertmanager = start_alertmanager(prom_tools["prometheus-alertmanager"], workdir, gateway.base,
                                          ALERTMANAGER_TOKEN)
        started.append(alertmanager)
        prometheus = start_prometheus(prom_tools["prometheus"], workdir, {
            f"{WORKER}:9400": f"127.0.0.1:{worker.port}",
            "gateway:8080": urlsplit(gateway.base).netloc}, alertmanager)
        started.append(prometheus)
        started.append(published := Published(settings))
        yield Stack(settings, worker, gateway, alertmanager, prometheus, published), receiver
    finally:
        for running in reversed(started):
            (running.stop if hasattr(running, "stop") else running.close)()
        services.stop_all()
        receiver.close()
        with psycopg.connect(postgres_server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def first_burst(stack: Stack) -> dict:
    """BURST undecodable messages: the worker's first dead letters ever, in one burst."""
    stack.wait_query(f'up{{service="{WORKER}"}} == 1')  # scraped before the burst: what it lacks, it lacks
    stack.publish([b"\x00garbage"] * BURST)
    return stack.published.wait_for(
        "for the first burst of dead letters",
        lambda n: [a.get("reason") for a in firing(n, "TidingsDeadLettersGrowing")] == ["undecodable"])


def second_reason(stack: Stack, receiver: WebhookReceiver) -> dict:
    """BURST deliveries the receiver refuses for good: a second alert in the same Alertmanager group."""
    stack.once("first burst", lambda: first_burst(stack))
    stack.publish(stack.deliveries(BURST, receiver.url))
    return stack.published.wait_for(
        "for the alert joining the firing group",
        lambda n: sorted(a.get("reason") for a in firing(n, "TidingsDeadLettersGrowing")) == ["permanent", "undecodable"])


def test_every_series_carries_service_once(stack):
    stack, _ = stack
    series = stack.wait_query(f'tidings_healthy{{service="{WORKER}"}}')
    assert [s["metric"]["service"] for s in series] == [WORKER]
    everything = stack.prometheus.get("/api/v1/series", **{"match[]": '{__name__=~"tidings_.+"}'})["data"]
    assert len(everything) > 20
    assert not [s for s in everything if "exported_service" in s], "Prometheus renamed the exported service label"
    up = stack.query('up{job="tidings"}')
    assert [s["metric"]["service"] for s in up] == [WORKER]  # the target label, for `up`


def test_the_first_burst_of_dead_letters_fires_and_notifies(stack):
    stack, _ = stack
    counted = f'tidings_dead_lettered_total{{service="{WORKER}",reason="undecodable"}}'
    before = None
    if "first burst" not in stack.done:  # the series as Prometheus has it before any dead letter
        stack.wait_query(f'up{{service="{WORKER}"}} == 1')
        before = stack.query(counted)
    notification = stack.once("first burst", lambda: first_burst(stack))
    assert notification["priority"] == "HIGH"  # severity warning
    assert notification["channels"] == ["email"]
    assert notification["recipient"]["email"] == "oncall@example.com"  # the compose route
    assert subject(notification).startswith("[FIRING:1] TidingsDeadLettersGrowing")
    if before is not None:
        assert [s["value"][1] for s in before] == ["0"]


def test_an_alert_joining_a_firing_group_is_published(stack):
    stack, receiver = stack
    first = stack.once("first burst", lambda: first_burst(stack))
    joined = stack.once("second reason", lambda: second_reason(stack, receiver))
    assert group_of(joined)["groupKey"] == group_of(first)["groupKey"]
    assert group_of(joined)["status"] == group_of(first)["status"] == "firing"
    assert subject(joined).startswith("[FIRING:2] TidingsDeadLettersGrowing")


def test_a_held_worker_is_unhealthy_and_critical_alerts_go_out_urgent(stack):
    stack, receiver = stack
    stack.once("second reason", lambda: second_reason(stack, receiver))
    stack.publish(stack.deliveries(1, receiver.url))  # one more permanent failure trips the limit

    deadline = time.monotonic() + 60
    while (answer := stack.worker.get("/healthz"))[0] != 503:
        assert time.monotonic() < deadline, f"the worker never reported unhealthy: {answer}"
        time.sleep(0.2)
    assert "dead-letter limit" in answer[1]
    assert stack.wait_query(f'tidings_healthy{{service="{WORKER}"}} == 0')

    unhealthy = stack.published.wait_for(
        "for the unhealthy worker", lambda n: firing(n, "TidingsServiceUnhealthy"))
    assert unhealthy["priority"] == "HIGH"  # severity warning
    tripped = stack.published.wait_for(
        "for the tripped dead-letter limit", lambda n: firing(n, "TidingsDeadLetterLimitTripped"))
    assert tripped["priority"] == "URGENT"  # severity critical: a page
    assert [a["service"] for a in firing(tripped, "TidingsDeadLetterLimitTripped")] == [WORKER]
    refused = stack.gateway.metrics.requests.labels("POST", "/v1/alertmanager", "422")._value.get()
    assert refused == 0, "the gateway refused some of Alertmanager's groups"
