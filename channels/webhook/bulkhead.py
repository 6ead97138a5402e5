"""Per-endpoint bulkhead for the webhook provider: a concurrency limit and a circuit breaker per
scheme://host:port, so one slow or failing receiver cannot take every delivery slot.

A full endpoint makes a send wait up to `wait_s` for a slot, then answers Deferred (parked on a
retry tier, no attempt spent). After `failures` consecutive transient failures the circuit opens
for `cooldown_s`: sends answer Transient("circuit_open") without a request; after the cool-down
one probe goes through, and its outcome closes or re-opens the circuit (consumer/circuit_breaker.py,
the breaker every part of Tidings uses)."""
from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable
from urllib.parse import urlsplit

from consumer.circuit_breaker import OPEN, Admission, CircuitBreaker
from consumer.outcomes import Deferred, Delivered, Outcome, Permanent, Transient


@functools.lru_cache(maxsize=4096)  # a pure function of the URL, asked on every send
def endpoint_of(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


@dataclass
class _Endpoint:
    slots: asyncio.Semaphore
    circuit: CircuitBreaker
    users: int = 0  # sends holding or waiting for a slot; the entry is dropped at 0 when at rest


@dataclass
class EndpointBulkhead:
    concurrency: int = 20
    wait_s: float = 5.0
    failures: int = 0  # consecutive transient failures that open the circuit; 0 = no breaker
    cooldown_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _endpoints: dict[str, _Endpoint] = field(default_factory=dict)

    def state(self, endpoint: str) -> str:
        entry = self._endpoints.get(endpoint)
        return "closed" if entry is None else entry.circuit.state

    def open_count(self) -> int:
        """Endpoints whose circuit is open now (not yet half-open)."""
        return sum(1 for entry in self._endpoints.values() if entry.circuit.state == OPEN)

    async def run(self, url: str, attempt: Callable[[], Awaitable[Outcome]]) -> Outcome:
        key = endpoint_of(url)
        entry = self._endpoints.get(key)
        if entry is None:
            entry = self._endpoints[key] = _Endpoint(asyncio.Semaphore(max(1, self.concurrency)),
                                                     CircuitBreaker(self.cooldown_s, self.failures, self.clock))
        admission = entry.circuit.admit()
        if admission is None:
            return _refusal(entry.circuit)
        entry.users += 1
        try:
            if not await _take_slot(entry.slots, self.wait_s):
                entry.circuit.released(admission)
                return Deferred("endpoint_busy", self.wait_s)
            try:
                outcome = await attempt()
            except BaseException:  # cancelled, or a defect: no verdict on the endpoint
                entry.circuit.released(admission)
                raise
            finally:
                entry.slots.release()
            _record(entry.circuit, admission, outcome)
            return outcome
        finally:
            entry.users -= 1
            if entry.users == 0 and entry.circuit.at_rest:
                self._endpoints.pop(key, None)


def _refusal(circuit: CircuitBreaker) -> Transient:
    if circuit.state == OPEN:
        return Transient("circuit_open", f"endpoint circuit open for {circuit.remaining_s():.1f}s more",
                         retry_after_s=circuit.retry_after_s())
    return Transient("circuit_open", "endpoint circuit half-open, a probe is in flight",
                     retry_after_s=circuit.retry_after_s())


def _record(circuit: CircuitBreaker, admission: Admission, outcome: Outcome) -> None:
    if isinstance(outcome, (Delivered, Permanent)):  # the endpoint answered: it is alive
        circuit.succeeded(admission)
    elif isinstance(outcome, Transient) and _endpoint_failure(outcome):
        circuit.failed(admission)
    elif admission.probe:  # a probe that ended otherwise (429, ...) leaves the circuit open a while longer
        circuit.failed(admission)


async def _take_slot(slots: asyncio.Semaphore, wait_s: float) -> bool:
    if not slots.locked():  # a free slot is taken without suspending
        return await slots.acquire()
    try:
        async with asyncio.timeout(wait_s):  # a timer on this task: wait_for would start a task per wait
            return await slots.acquire()
    except TimeoutError:
        return False


def _endpoint_failure(outcome: Transient) -> bool:
    # 429 is a live endpoint asking us to slow down; Retry-After already paces it.
    return outcome.status_code != 429 and outcome.error_class != "circuit_open"
