"""Closing the sink stops its gauge refresh, even when the stop arrives as a count returns.

Python 3.11's asyncio.wait_for returned the result and dropped the cancel when both came in the
same loop turn: the refresh then ran on every DEPTH_REFRESH_S and close() waited for it forever
(a CI run hung 600 s in tests/tracking/test_dead_letters.py). The turn is made here on purpose."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

from consumer.metrics import ServiceMetrics
from consumer.settings import Settings
from tracking import sink as sink_module
from tracking.sink import SinkService


def test_close_stops_the_depth_watch_even_as_its_count_returns(monkeypatch):
    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        asked, answered = asyncio.Event(), loop.create_future()

        async def dead_lettered_count(conn) -> int:
            asked.set()
            return await answered

        async def held_counts(conn, overdue_after_s) -> dict:
            return {}

        monkeypatch.setattr(sink_module, "dead_lettered_count", dead_lettered_count)
        monkeypatch.setattr(sink_module, "held_counts", held_counts)
        monkeypatch.setattr(sink_module, "DEPTH_REFRESH_S", 0.1)  # a watch that ran on would loop often
        sink = SinkService(Settings(), ServiceMetrics("sink"))

        async def connected():
            return SimpleNamespace(conn=None)
        sink._connected = connected
        sink._depth_watch = asyncio.create_task(sink._watch_depth())
        await asyncio.wait_for(asked.wait(), 5)
        answered.set_result(3)  # the count's answer and the stop in the same loop turn
        closing = asyncio.ensure_future(sink.close())
        done, _ = await asyncio.wait([closing], timeout=5)
        return closing in done

    assert asyncio.run(scenario()), "close() still waiting for the depth watch"


def test_no_service_code_times_out_with_wait_for():
    """One way to bound a wait: asyncio.timeout, which keeps a cancel that arrives with the result."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    calls = [f"{path.relative_to(root)}:{node.lineno}"
             for package in ("consumer", "router", "channels", "tracking", "gateway", "cli")
             for path in sorted((root / package).rglob("*.py"))
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Attribute) and node.attr == "wait_for"
             and isinstance(node.value, ast.Name) and node.value.id == "asyncio"]
    assert calls == []
