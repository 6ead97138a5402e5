"""The AWS account's opted-out phone numbers, as the SNS provider (sms_sns.py) checks them before
every Publish: read in full (ListPhoneNumbersOptedOut) and re-read in the background when stale.

No send trusts a list that has not been read: sends that arrive during the first read wait for it,
and while no read has succeeded each number is asked about on its own (CheckIfPhoneNumberIsOptedOut).
A later failed re-read keeps the last list."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable

log = logging.getLogger(__name__)


class OptOutList:
    def __init__(self, read_all: Callable[[], Awaitable[set[str]]], check_one: Callable[[str], Awaitable[bool]],
                 refresh_s: float, retry_s: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.read_all, self.check_one = read_all, check_one
        self.refresh_s, self.retry_s, self.clock = refresh_s, min(retry_s, refresh_s), clock
        self.numbers: set[str] | None = None  # None: never read
        self.due_at = float("-inf")  # when the next read starts
        self.reading: asyncio.Task | None = None

    async def contains(self, number: str) -> bool:
        """Whether `number` opted out; the check's own errors (boto3's) are the caller's to turn into outcomes."""
        if self.reading is None and self.clock() >= self.due_at:
            self.reading = asyncio.ensure_future(self._read())
        if self.numbers is None and self.reading is not None:
            await asyncio.shield(self.reading)  # shielded: one send cancelled does not stop the read
        if self.numbers is None:
            return await self.check_one(number)
        return number in self.numbers

    async def close(self) -> None:
        if self.reading is not None:
            self.reading.cancel()

    async def _read(self) -> None:
        try:
            self.numbers = await self.read_all()
            self.due_at = self.clock() + self.refresh_s
        except Exception as exc:  # never fatal: the last list, or a question per number, stands in
            log.warning("could not read SNS opted-out numbers (%s: %s); next try in %.0fs",
                        type(exc).__name__, exc, self.retry_s)
            self.due_at = self.clock() + self.retry_s
        finally:
            self.reading = None
