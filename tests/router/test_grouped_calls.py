"""The router's shared Postgres connection (router/grouped_calls.py): batches that wait for it are
served together, so a LOW batch is never held back by a steady stream of more urgent ones (strict
priority on that connection starved LOW at half load), and a failure stays with its own batch."""
from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import datetime, timezone

import psycopg
import pytest

from consumer.metrics import ServiceMetrics
from consumer.settings import Settings
from router.admission import Admission
from router.grouped_calls import GroupedCalls


class Raw:
    """What the admission step reads of a consumed message: its position and headers."""

    def __init__(self, topic: str, offset: int):
        self._topic, self._offset = topic, offset

    def topic(self):
        return self._topic

    def partition(self):
        return 0

    def offset(self):
        return self._offset

    def headers(self):
        return None


def event(priority: str) -> dict:
    return {"id": str(uuid.uuid4()), "tenant": "acme", "source": "test", "idempotency_key": None,
            "priority": priority}


def test_a_low_batch_is_admitted_while_urgent_batches_keep_the_connection_busy(database_url):
    from tracking.migrate import migrate

    migrate(database_url)
    admission = Admission(Settings(database_url=database_url, rate_limits=""), ServiceMetrics("router"),
                          publisher=None, codec=None, names=None, record=None,
                          clock=lambda: datetime.now(timezone.utc))
    offsets = iter(range(10**9))

    async def scenario() -> tuple[float, int, list]:
        stop = asyncio.Event()
        served = 0

        async def urgent_producer() -> None:  # always one more URGENT batch waiting for the connection
            nonlocal served
            while not stop.is_set():
                fresh, _ = await admission.screen([(Raw("t.events.urgent", next(offsets)), event("URGENT"))])
                served += len(fresh)

        producers = [asyncio.create_task(urgent_producer()) for _ in range(16)]
        await asyncio.sleep(0.3)
        low = (Raw("t.events.low", next(offsets)), event("LOW"))
        began = time.monotonic()
        try:
            fresh, _ = await asyncio.wait_for(admission.screen([low]), timeout=10)
        finally:
            stop.set()
            await asyncio.gather(*producers)
        return time.monotonic() - began, served, fresh

    try:
        waited, served, fresh = asyncio.run(scenario())
    finally:
        admission.close()
    assert len(fresh) == 1 and fresh[0][1]["priority"] == "LOW"
    assert served > 16  # the urgent stream was flowing the whole time
    assert waited < 2.0, f"the LOW batch waited {waited:.1f}s behind URGENT ones"
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM dedup_keys").fetchone()[0] == served + 1


def test_waiting_calls_run_together_and_each_caller_gets_its_own_results():
    calls: list[list] = []
    gate = threading.Event()

    def step(items: list) -> list:
        calls.append(list(items))
        gate.wait(5)
        return [item * 10 for item in items]

    async def scenario():
        grouped = GroupedCalls(lambda s, items: s(items))
        first = asyncio.create_task(grouped.call(step, [1]))
        await asyncio.sleep(0.05)  # the first call holds the connection
        rest = [asyncio.create_task(grouped.call(step, [n, n + 1])) for n in (2, 4, 6)]
        await asyncio.sleep(0.05)
        gate.set()
        return await first, await asyncio.gather(*rest)

    first, rest = asyncio.run(scenario())
    assert first == [10] and rest == [[20, 30], [40, 50], [60, 70]]
    assert calls == [[1], [2, 3, 4, 5, 6, 7]]


def test_a_failing_batch_fails_alone_and_an_outage_fails_every_waiting_batch():
    gate = threading.Event()

    def step(items: list) -> list:
        gate.wait(5)
        if "bad" in items:
            raise ValueError("bad item")
        if "down" in items:
            raise psycopg.OperationalError("connection refused")
        return [f"ok:{item}" for item in items]

    async def scenario(second: str):
        grouped = GroupedCalls(lambda s, items: s(items))
        busy = asyncio.create_task(grouped.call(step, ["first"]))
        await asyncio.sleep(0.05)
        waiting = [asyncio.create_task(grouped.call(step, [item])) for item in ("a", second, "b")]
        await asyncio.sleep(0.05)
        gate.set()
        await busy
        return await asyncio.gather(*waiting, return_exceptions=True)

    a, bad, b = asyncio.run(scenario("bad"))
    assert a == ["ok:a"] and b == ["ok:b"] and isinstance(bad, ValueError)
    gate.clear()
    outcomes = asyncio.run(scenario("down"))
    assert all(isinstance(o, psycopg.OperationalError) for o in outcomes)


def test_a_cancelled_caller_does_not_leave_the_others_waiting():
    gate = threading.Event()

    def step(items: list) -> list:
        gate.wait(5)
        return items

    async def scenario():
        grouped = GroupedCalls(lambda s, items: s(items))
        leader = asyncio.create_task(grouped.call(step, ["x"]))
        await asyncio.sleep(0.05)
        follower = asyncio.create_task(grouped.call(step, ["y"]))
        await asyncio.sleep(0.05)
        leader.cancel()
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await leader
        return await asyncio.wait_for(follower, timeout=5)

    assert asyncio.run(scenario()) == ["y"]


def rounds_step(rounds: list[list], release: threading.Semaphore, result=lambda items: items):
    """A step that waits for a release, then records its round (the items it was called with)."""
    def step(items: list) -> list:
        release.acquire(timeout=5)
        rounds.append(list(items))
        return result(items)
    return step


def test_a_full_round_takes_the_most_urgent_calls_and_a_call_left_out_goes_first_later():
    rounds: list[list] = []
    release = threading.Semaphore(0)
    step = rounds_step(rounds, release)

    async def scenario():
        grouped = GroupedCalls(lambda s, items: s(items), max_items=2, max_rounds=2)
        busy = asyncio.create_task(grouped.call(step, ["busy"], rank=0))
        await asyncio.sleep(0.05)
        low = asyncio.create_task(grouped.call(step, ["low"], rank=3))
        urgent = [asyncio.create_task(grouped.call(step, [f"u{n}a", f"u{n}b"], rank=0)) for n in range(4)]
        await asyncio.sleep(0.05)
        for _ in range(6):
            release.release()
        await asyncio.gather(busy, low, *urgent)

    asyncio.run(scenario())
    # Each round is full with urgent items until LOW has been left out twice; then it goes first.
    assert rounds == [["busy"], ["u0a", "u0b"], ["u1a", "u1b"], ["low"], ["u2a", "u2b"], ["u3a", "u3b"]]


def test_a_call_bigger_than_a_round_waits_in_parts_and_an_urgent_call_goes_between_them():
    rounds: list[list] = []
    release = threading.Semaphore(0)
    step = rounds_step(rounds, release, lambda items: [item.upper() for item in items])

    async def scenario():
        grouped = GroupedCalls(lambda s, items: s(items), max_items=2)
        low = asyncio.create_task(grouped.call(step, ["l1", "l2", "l3", "l4", "l5"], rank=3))
        await asyncio.sleep(0.05)  # its first part holds the connection
        urgent = asyncio.create_task(grouped.call(step, ["u1"], rank=0))
        await asyncio.sleep(0.05)
        for _ in range(4):
            release.release()
        return await low, await urgent

    low, urgent = asyncio.run(scenario())
    assert low == ["L1", "L2", "L3", "L4", "L5"] and urgent == ["U1"]
    assert rounds == [["l1", "l2"], ["u1"], ["l3", "l4"], ["l5"]]


def test_a_step_that_never_blocks_runs_at_once_on_the_loop_whatever_its_size():
    """State in memory (no Postgres): no thread and no rounds, each call is its own step."""
    threads: list[str] = []
    calls: list[int] = []

    def step(items: list) -> list:
        threads.append(threading.current_thread().name)
        calls.append(len(items))
        return [item * 10 for item in items]

    async def scenario():
        grouped = GroupedCalls(lambda s, items: s(items), max_items=100, blocking=False)
        return await asyncio.gather(grouped.call(step, list(range(250))), grouped.call(step, [7]),
                                    grouped.call(step, []))

    big, small, empty = asyncio.run(scenario())
    assert big == [n * 10 for n in range(250)] and small == [70] and empty == []
    assert calls == [250, 1]
    assert threads == [threading.main_thread().name] * 2
