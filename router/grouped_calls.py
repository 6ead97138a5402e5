"""A Postgres connection of the router, shared by the batches it handles concurrently. Calls of a
step (a dedup claim, a rate-limit decision, planning the deliveries) that arrive while the
connection is busy wait, and run together as one call when it is free; each caller gets the
results for its own items. A round takes the waiting calls most urgent first, up to `max_items` items (a
bigger call waits in parts of that size), so an URGENT batch waits for the round in progress and not
behind a LOW backlog; a call passed over for more urgent ones in `max_rounds` rounds goes first in
the next.

At a steady rate below capacity every waiting call fits in the next round, whatever its priority.
Handing the connection to one call at a time, the most urgent first, starved LOW at half load:
small batches of the higher lanes queued for it without end (LOW p99 16 s against 0.9 s in one
lane, bench.end_to_end)."""
from __future__ import annotations

import asyncio
import itertools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from consumer.outages import dependency_of

# A step takes the items of every caller in a round and returns one result per item.
Step = Callable[[list], list]


@dataclass
class Waiting:
    rank: int  # 0 = most urgent
    order: int
    items: list
    future: asyncio.Future
    rounds: int = 0  # rounds that left it out

    def key(self, max_rounds: int) -> tuple[int, int]:
        return (-1 if self.rounds >= max_rounds else self.rank, self.order)


class GroupedCalls:
    def __init__(self, run_in_thread: Callable[[Step, list], list], max_items: int = 100, max_rounds: int = 5,
                 thread_name: str = "router-db", blocking: bool = True):
        self._run = run_in_thread  # runs a step on the connection (reconnecting first when it was lost)
        # The connection's own thread: in the shared default executor a round waited behind the
        # calls of the router's other connections. A step that never blocks (its state in memory,
        # no Postgres) runs at once on the loop instead: a thread hop per round of 100 items left
        # the router's loop idle while the step waited for the GIL.
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=thread_name) if blocking else None
        self.max_items, self.max_rounds = max_items, max_rounds
        self._connection = asyncio.Lock()  # one call on the connection at a time; waiters in arrival order
        self._waiting: dict[Step, list[Waiting]] = {}
        self._drainers: dict[Step, asyncio.Task] = {}
        self._order = itertools.count()

    async def call(self, step: Step, items: list, rank: int = 0) -> list:
        """`step(items)`, possibly together with other callers' items; `rank` orders the waiting
        calls when they do not all fit in one round."""
        if not items:
            return []
        if self._thread is None:
            return self._run(step, items)
        if len(items) > self.max_items:
            # In parts of at most max_items, each waiting its turn: a round of a whole LOW batch
            # (500 events) held the connection 0.1-0.3 s on a loaded machine, and an URGENT event
            # waited for one such round per step (URGENT p99 1.1-1.2 s under a LOW backlog).
            parts = [items[i:i + self.max_items] for i in range(0, len(items), self.max_items)]
            results = await asyncio.gather(*(self.call(step, part, rank) for part in parts))
            return [result for part in results for result in part]
        future = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(step, []).append(Waiting(rank, next(self._order), items, future))
        drainer = self._drainers.get(step)
        if drainer is None or drainer.done():
            # A task of its own: a caller that is cancelled must not leave the others waiting.
            self._drainers[step] = asyncio.create_task(self._drain(step))
        return await future

    async def _drain(self, step: Step) -> None:
        while self._waiting.get(step):
            async with self._connection:
                group = self._next_round(step)
                if group:
                    await self._serve(step, group)

    def _next_round(self, step: Step) -> list[tuple[list, asyncio.Future]]:
        waiting = sorted((w for w in self._waiting.pop(step, []) if not w.future.cancelled()),
                         key=lambda w: w.key(self.max_rounds))
        group, count = [], 0
        for index, call in enumerate(waiting):
            if group and count + len(call.items) > self.max_items:
                served = min(w.rank for w in waiting[:index])
                for left in waiting[index:]:  # passed over for a more urgent call (not in turn)
                    left.rounds += left.rank > served
                self._waiting.setdefault(step, []).extend(waiting[index:])
                break
            group.append((call.items, call.future))
            count += len(call.items)
        return group

    async def _serve(self, step: Step, group: list[tuple[list, asyncio.Future]]) -> None:
        try:
            results = await self._in_thread(step, [item for items, _ in group for item in items])
        except Exception as exc:
            if len(group) == 1 or dependency_of(exc) is not None:
                _settle(group, exception=exc)
                return
            # Something in one batch's items: each batch alone, so it fails only the batch it is in.
            for one in group:
                try:
                    _settle([one], results=await self._in_thread(step, one[0]))
                except Exception as alone:
                    _settle([one], exception=alone)
            return
        _settle(group, results=results)


    async def _in_thread(self, step: Step, items: list) -> list:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._run, step, items)


def _settle(group: list[tuple[list, asyncio.Future]], results: list | None = None,
            exception: BaseException | None = None) -> None:
    start = 0
    for items, future in group:
        if not future.done():
            if exception is not None:
                future.set_exception(exception)
            else:
                future.set_result(results[start:start + len(items)])
        start += len(items)

