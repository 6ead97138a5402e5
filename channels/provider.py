"""The one small interface every provider implements: an async send() that returns an Outcome
and raises nothing for expected failures."""
from __future__ import annotations

from typing import Protocol

from consumer.outcomes import Outcome


class Provider(Protocol):
    name: str

    def name_for(self, message: dict) -> str:
        """The provider recorded for this message (Slack: slack-webhook or slack-api)."""
        ...

    async def start(self) -> None: ...
    async def send(self, message: dict) -> Outcome: ...
    async def close(self) -> None: ...
