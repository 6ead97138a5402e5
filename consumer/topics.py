"""Topic names (with the configurable prefix) and idempotent topic creation / listing.

Every arrow in the data flow is one of these topics."""
from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from consumer.channel_specs import channel_names
from consumer.kafka_logging import routed

PRIORITIES = ("urgent", "high", "normal", "low")


@dataclass(frozen=True)
class Topics:
    prefix: str = "tidings"

    def events(self, priority: str) -> str:
        return f"{self.prefix}.events.{_check(priority, PRIORITIES)}"

    def channel(self, channel: str, priority: str) -> str:
        return f"{self.prefix}.channel.{_check(channel, channel_names())}.{_check(priority, PRIORITIES)}"

    def retry(self, channel: str, tier: str) -> str:
        return f"{self.prefix}.channel.{_check(channel, channel_names())}.retry.{tier}"

    @property
    def deliveries(self) -> str:
        return f"{self.prefix}.deliveries"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}.dlq"

    def all_events(self) -> list[str]:
        return [self.events(p) for p in PRIORITIES]

    def all_channel(self, channel: str) -> list[str]:
        return [self.channel(channel, p) for p in PRIORITIES]

    def all(self, retry_tiers: dict[str, list[str]] | None = None) -> list[str]:
        """Every topic; retry topics for the tier names given per channel."""
        names = self.all_events()
        for channel in channel_names():
            names += self.all_channel(channel)
            names += [self.retry(channel, tier) for tier in (retry_tiers or {}).get(channel, ())]
        return names + [self.deliveries, self.dlq]


def _check(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
    return value


def admin_client(config: dict) -> AdminClient:
    """An AdminClient for `config` (Settings.kafka_common()) whose librdkafka lines and errors go
    through logging (consumer.kafka_logging), not straight to stderr."""
    return AdminClient(routed(config))


def create_topics(admin: AdminClient, names: list[str], partitions: int, replication_factor: int = 1,
                  timeout: float = 30.0) -> dict[str, str]:
    """Create the topics that do not exist yet. Returns {name: 'created' | 'exists'}.

    An existing topic with a different partition count is reported, not altered: priority lanes
    rely on every priority topic having the same count, so a mismatch needs an operator."""
    new = [NewTopic(name, num_partitions=partitions, replication_factor=replication_factor) for name in names]
    result: dict[str, str] = {}
    for name, future in admin.create_topics(new, request_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
            result[name] = "created"
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
            result[name] = "exists"
    existing = list_topics(admin, prefix=None, timeout=timeout)
    for name in names:
        count = existing.get(name)
        if count is not None and count != partitions:
            result[name] = f"exists with {count} partitions (asked for {partitions})"
    return result


def list_topics(admin: AdminClient, prefix: str | None, timeout: float = 10.0) -> dict[str, int]:
    """{topic: partition count}, for the topics starting with `prefix.` (all when prefix is None)."""
    metadata = admin.list_topics(timeout=timeout)
    return {
        name: len(topic.partitions)
        for name, topic in sorted(metadata.topics.items())
        if topic.error is None and (prefix is None or name.startswith(prefix + "."))
    }
