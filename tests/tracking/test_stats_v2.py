"""DeliveryEvent v2 in the delivery log: retry tier, due time, stage and replay, in both tables,
the replay-aware attempt count, and the dead-letter and story queries built on them."""
from __future__ import annotations

import datetime as dt
import shutil
import uuid

import psycopg

from tests.tracking.test_store import T0, event, query, record
from tracking import stats
from tracking.migrate import MIGRATIONS_DIR, migrate


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def story(delivery) -> list[dict]:
    """queued, two retries, dead-lettered by the channel, replayed once, then sent."""
    return [
        event(delivery, "queued"),
        event(delivery, "retry_scheduled", seconds=1, attempt=1, retry_tier="1s", due_at=at(2),
              status_code=503, error_class="Transient"),
        event(delivery, "retry_scheduled", seconds=2, attempt=2, retry_tier="2s", due_at=at(4),
              status_code=503, error_class="Transient"),
        event(delivery, "dead_lettered", seconds=4, attempt=3, stage="channel-email",
              status_code=503, error_class="Transient", error_message="tiers exhausted"),
        # The replay tool may copy the dead letter's attempt onto its marker; it must not count.
        event(delivery, "replayed", seconds=60, attempt=3, replay=1),
        event(delivery, "sent", seconds=61, attempt=1, replay=1, status_code=200),
    ]


def test_v2_fields_are_stored_in_both_tables(database_url):
    migrate(database_url)
    delivery = uuid.uuid4()
    retry = event(delivery, "retry_scheduled", seconds=1, attempt=1, retry_tier="1m",
                  due_at=at(61), replay=2)
    assert record(database_url, [event(delivery, "queued", replay=2), retry]) == 2

    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT retry_tier, due_at, stage, replay FROM delivery_events WHERE event_id = %s",
            [retry["event_id"]],
        ).fetchone()
    assert row == ("1m", at(61), None, 2)
    state = query(database_url, stats.delivery_state, delivery)
    assert (state["status"], state["retry_tier"], state["due_at"], state["stage"]) == (
        "retry_scheduled", "1m", at(61), None)
    assert (state["replay"], state["attempts"]) == (2, 1)


def test_due_at_as_raw_millis_is_stored_as_a_timestamp(database_url):
    migrate(database_url)
    delivery = uuid.uuid4()
    millis = int(at(30).timestamp() * 1000)
    record(database_url, [event(delivery, "retry_scheduled", attempt=1, due_at=millis)])
    assert query(database_url, stats.delivery_state, delivery)["due_at"] == at(30)


def test_v1_shaped_event_still_records(database_url):
    migrate(database_url)
    delivery = uuid.uuid4()
    v1 = event(delivery, "sent", attempt=1)  # the helper knows only v1 fields
    assert not {"retry_tier", "due_at", "stage", "replay"} & v1.keys()
    assert record(database_url, [v1]) == 1
    state = query(database_url, stats.delivery_state, delivery)
    assert (state["status"], state["retry_tier"], state["due_at"], state["stage"]) == (
        "sent", None, None, None)
    assert (state["replay"], state["attempts"]) == (0, 1)
    assert query(database_url, stats.delivery_story, delivery)[0]["replay"] == 0


def test_migration_002_is_additive_over_v1_rows(database_url, tmp_path):
    v1_only = tmp_path / "migrations"
    v1_only.mkdir()
    shutil.copy(MIGRATIONS_DIR / "001_delivery_log.sql", v1_only)
    migrate(database_url, v1_only)
    delivery = uuid.uuid4()
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO deliveries (delivery_id, notification_id, channel, priority, status,"
            " status_at, status_event_id, attempts, event_count, first_event_at, last_event_at)"
            " VALUES (%s, %s, 'sms', 'HIGH', 'sent', %s, %s, 2, 3, %s, %s)",
            [delivery, uuid.uuid4(), T0, uuid.uuid4(), T0, T0],
        )
    assert migrate(database_url)[0] == "002_retry_and_replay.sql"  # then any later migrations
    state = query(database_url, stats.delivery_state, delivery)
    assert (state["status"], state["attempts"], state["replay"], state["stage"]) == (
        "sent", 2, 0, None)


def test_replayed_dead_letter_ends_sent_and_tells_its_story(database_url):
    migrate(database_url)
    delivery = uuid.uuid4()
    events = story(delivery)
    assert record(database_url, events) == 6

    state = query(database_url, stats.delivery_state, delivery)
    assert (state["status"], state["replay"], state["attempts"]) == ("sent", 1, 1)
    assert (state["stage"], state["retry_tier"], state["error_class"]) == (None, None, None)
    assert state["event_count"] == 6
    assert query(database_url, stats.dead_lettered) == []

    told = query(database_url, stats.delivery_story, delivery)
    assert [str(e["event_id"]) for e in told] == [e["event_id"] for e in events]
    assert [(e["status"], e["attempt"], e["replay"]) for e in told] == [
        ("queued", 0, 0), ("retry_scheduled", 1, 0), ("retry_scheduled", 2, 0),
        ("dead_lettered", 3, 0), ("replayed", 3, 1), ("sent", 1, 1)]
    assert [(e["retry_tier"], e["due_at"]) for e in told[1:3]] == [("1s", at(2)), ("2s", at(4))]
    assert (told[3]["stage"], told[3]["error_class"], told[3]["status_code"]) == (
        "channel-email", "Transient", 503)
    assert told[-1]["occurred_at"] == at(61)
    assert query(database_url, stats.delivery_story, uuid.uuid4()) == []


def test_replay_fold_does_not_depend_on_arrival_order(database_url):
    migrate(database_url)
    for arrival in ("one at a time", "reversed"):
        delivery = uuid.uuid4()
        events = story(delivery)
        for item in events if arrival == "one at a time" else reversed(events):
            record(database_url, [item])
        state = query(database_url, stats.delivery_state, delivery)
        assert (state["status"], state["replay"], state["attempts"], state["event_count"]) == (
            "sent", 1, 1, 6), arrival


def test_attempts_of_a_replay_start_afresh(database_url):
    migrate(database_url)
    delivery = uuid.uuid4()
    events = story(delivery)[:5]  # up to the replayed marker
    record(database_url, events[:4])
    assert query(database_url, stats.delivery_state, delivery)["attempts"] == 3
    record(database_url, [events[4]])
    state = query(database_url, stats.delivery_state, delivery)
    assert (state["status"], state["replay"], state["attempts"]) == ("replayed", 1, 0)
    record(database_url, [event(delivery, "retry_scheduled", seconds=61, attempt=1, replay=1,
                                retry_tier="1s", due_at=at(62))])
    state = query(database_url, stats.delivery_state, delivery)
    assert (state["status"], state["replay"], state["attempts"], state["due_at"]) == (
        "retry_scheduled", 1, 1, at(62))


def test_v2_story_is_idempotent(database_url):
    migrate(database_url)
    delivery = uuid.uuid4()
    events = story(delivery)
    assert record(database_url, events) == 6
    before = query(database_url, stats.delivery_state, delivery)
    assert record(database_url, events + events) == 0
    assert query(database_url, stats.delivery_state, delivery) == before
    assert len(query(database_url, stats.delivery_story, delivery)) == 6


def test_dead_lettered_lists_current_dead_letters_by_channel(database_url):
    migrate(database_url)
    email, sms, reopened = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    record(database_url, [
        event(email, "dead_lettered", seconds=2, attempt=3, stage="channel-email",
              error_class="Transient", error_message="tiers exhausted"),
        event(sms, "dead_lettered", seconds=1, channel="sms", stage="router",
              error_class="Permanent", error_message="no phone number"),
        *story(reopened)[:5],
    ])
    listed = query(database_url, stats.dead_lettered)
    assert [(row["delivery_id"], row["channel"], row["stage"]) for row in listed] == [
        (sms, "sms", "router"), (email, "email", "channel-email")]
    assert listed[0]["error_message"] == "no phone number"
    assert set(listed[0]) >= {"delivery_id", "notification_id", "channel", "error_class",
                              "error_message", "stage"}
    only_email = query(database_url, stats.dead_lettered, "email")
    assert [(row["delivery_id"], row["error_class"]) for row in only_email] == [
        (email, "Transient")]
