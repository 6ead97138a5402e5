"""`tidings topics create|list` on the real broker."""
import uuid

from consumer.settings import Settings
from consumer.topics import PRIORITIES
from consumer.channel_specs import channel_names
from tests.cli.run import tidings


def test_create_is_idempotent_and_list_shows_partition_counts(kafka_bootstrap):
    settings = Settings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"c{uuid.uuid4().hex[:8]}")
    first = tidings(settings, "topics", "create", "--partitions", "3")
    assert first.returncode == 0, first.stderr
    # four event lanes; per channel four lanes and four retry tiers; deliveries and dlq
    expected = 4 + (4 + 4) * len(channel_names()) + 2
    assert first.stdout.count(": created") == expected

    second = tidings(settings, "topics", "create", "--partitions", "3")
    assert second.returncode == 0 and second.stdout.count(": exists") == expected

    listing = tidings(settings, "topics", "list")
    assert listing.returncode == 0
    for priority in PRIORITIES:
        assert f"{settings.topic_prefix}.events.{priority}" in listing.stdout
        assert f"{settings.topic_prefix}.channel.webhook.{priority}" in listing.stdout
    for tier in ("10s", "1m", "10m", "1h"):
        assert f"{settings.topic_prefix}.channel.email.retry.{tier}" in listing.stdout
    assert f"{settings.topic_prefix}.dlq" in listing.stdout
    rows = [line for line in listing.stdout.splitlines() if settings.topic_prefix in line]
    assert len(rows) == expected and all(" 3 " in row for row in rows)

    mismatch = tidings(settings, "topics", "create", "--partitions", "5")
    assert mismatch.returncode == 1 and "exists with 3 partitions (asked for 5)" in mismatch.stdout


def test_prefix_is_configurable_through_the_environment(kafka_bootstrap):
    settings = Settings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"p{uuid.uuid4().hex[:8]}")
    assert tidings(settings, "topics", "create", TIDINGS_PARTITIONS="2", TIDINGS_RETRY_TIERS_SMS="1s,2s").returncode == 0
    listing = tidings(settings, "topics", "list")
    assert f"{settings.topic_prefix}.channel.sms.retry.2s" in listing.stdout
    assert f"{settings.topic_prefix}.deliveries" in listing.stdout and "tidings.events" not in listing.stdout
