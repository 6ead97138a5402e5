"""The one small interface every provider implements: an async send() that returns an Outcome
and raises nothing for expected failures."""
from __future__ import annotations

from typing import Protocol

from consumer.outcomes import Outcome


class Provider(Protocol):
    name: str

    async def start(self) -> None: ...
    async def send(self, message: dict) -> Outcome: ...
    async def close(self) -> None: ...
