"""The dedup ledger (router/dedup.py) in memory and in Postgres: the first sighting of a key wins
within the window, a redelivery of the same position is not a duplicate, and an old key is
reclaimed once the window has passed."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from router.dedup import MemoryDedup, PostgresDedup, Sighting, dedup_key

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
ID_A, ID_B = "2f1e1e4c-4a8e-4b57-9d5e-0f6bd7a1c001", "2f1e1e4c-4a8e-4b57-9d5e-0f6bd7a1c002"


def test_keys_use_the_idempotency_key_scoped_by_tenant_and_source_else_the_id():
    event = {"id": ID_A, "tenant": "acme", "source": "billing", "idempotency_key": None}
    assert dedup_key("tidings", event) == f"tidings|id:{ID_A}"
    assert dedup_key("tidings", {**event, "idempotency_key": "INV-7"}) == "tidings|key:acme/billing/INV-7"


@pytest.fixture(params=["memory", "postgres"])
def ledger(request, database_url):
    if request.param == "memory":
        yield MemoryDedup(window_s=3600)
        return
    from tracking.migrate import migrate

    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield PostgresDedup(conn, window_s=3600)


def test_first_sighting_wins_within_the_window_and_is_reclaimed_after_it(ledger):
    first = Sighting("k", ID_A, "events.low/0/5", T0)
    assert ledger.claim([first])["k"].position == "events.low/0/5"
    redelivered = Sighting("k", ID_A, "events.low/0/5", T0 + timedelta(minutes=1))
    assert ledger.claim([redelivered])["k"].position == "events.low/0/5"  # the same message: not a duplicate
    copy = Sighting("k", ID_B, "events.low/1/9", T0 + timedelta(minutes=2))
    assert ledger.claim([copy])["k"].notification_id == ID_A  # a second copy: the first wins
    later = Sighting("k", ID_B, "events.low/1/20", T0 + timedelta(hours=2))
    assert ledger.claim([later])["k"].position == "events.low/1/20"  # the window passed


def test_two_copies_in_one_batch(ledger):
    batch = [Sighting("k2", ID_A, "events.high/0/1", T0), Sighting("k2", ID_B, "events.high/0/2", T0)]
    assert ledger.claim(batch)["k2"].position == "events.high/0/1"


def test_the_memory_ledger_forgets_keys_past_the_window_and_keeps_the_rest_as_it_grows():
    ledger = MemoryDedup(window_s=3600, prune_floor=10)
    ledger.claim([Sighting(f"old-{i}", ID_A, f"events.low/0/{i}", T0) for i in range(8)])
    later = T0 + timedelta(hours=2)
    live = [Sighting(f"live-{i}", ID_B, f"events.low/1/{i}", later) for i in range(8)]
    ledger.claim(live)  # 16 keys, over 10: the 8 past the window go
    assert sorted(ledger.seen.entries) == sorted(s.key for s in live)
    # Not rebuilt on every batch: pruned again only once it has doubled what it kept (8, so 16).
    ledger.claim([Sighting(f"more-{i}", ID_B, f"events.low/2/{i}", later) for i in range(7)])
    assert len(ledger.seen.entries) == 15 and ledger.seen.prune_at == 16
    assert ledger.claim([Sighting("live-0", ID_A, "events.low/3/0", later)])["live-0"].position == "events.low/1/0"


def test_a_key_another_router_commits_while_the_claim_waits_comes_back_as_its_sighting(database_url):
    """A key another router inserted, and committed while this claim waited on its row, is not
    written by the claim and is read afterwards: the other router's sighting wins, nothing is missing."""
    import threading
    import time

    from tracking.migrate import migrate

    migrate(database_url)
    mine = Sighting("raced", ID_A, "events.low/0/1", T0)
    with psycopg.connect(database_url, autocommit=True) as other, \
            psycopg.connect(database_url, autocommit=True) as conn:
        with other.transaction():
            other.execute("INSERT INTO dedup_keys (key, notification_id, position, seen_at) VALUES (%s, %s, %s, %s)",
                          ["raced", ID_B, "events.low/1/7", T0])
            found: dict = {}
            claiming = threading.Thread(target=lambda: found.update(PostgresDedup(conn, 3600).claim([mine])))
            claiming.start()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not other.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid = %s",
                    [conn.info.backend_pid]).fetchone()[0]:
                time.sleep(0.01)  # the claim waits on the other router's uncommitted row
            assert claiming.is_alive()
        claiming.join(10)
    assert found["raced"].position == "events.low/1/7" and found["raced"].notification_id == ID_B
