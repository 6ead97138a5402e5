"""The router's dedup claim and its look-up of a batch run side by side (each on its own
connection); the plans that come back are the surviving events' own, in the order screening left
them."""
from __future__ import annotations

import asyncio
import threading

import pytest

from consumer.metrics import ServiceMetrics
from consumer.settings import Settings
from router.service import RouterService


class Screening:
    """Waits until the look-up has begun (so run one after the other, they would never finish),
    then drops the second event and puts the third first."""

    def __init__(self, looking: threading.Event):
        self.looking = looking

    async def screen(self, decoded):
        began = await asyncio.to_thread(self.looking.wait, 10)
        assert began, "the look-up did not start while the claim was running"
        return [decoded[2], decoded[0]], ["recorded: duplicate"]


class LookingUp:
    def __init__(self, looking: threading.Event):
        self.looking = looking

    def look_up(self, events):
        self.looking.set()
        return [f"plan of {event['id']}" for event in events]


def test_the_claim_and_the_look_up_run_together_and_plans_follow_the_screened_events():
    service = RouterService(Settings(), ServiceMetrics("test"))
    looking = threading.Event()
    service.admission, service.personalizer = Screening(looking), LookingUp(looking)
    decoded = [(object(), {"id": name, "priority": "LOW"}) for name in ("a", "b", "c")]
    (fresh, screened), plans = asyncio.run(service._screen_and_look_up(decoded))
    assert [event["id"] for _, event in fresh] == ["c", "a"]
    assert plans == ["plan of c", "plan of a"]
    assert screened == ["recorded: duplicate"]


def test_a_failed_look_up_fails_the_batch_after_the_claim_settled():
    service = RouterService(Settings(), ServiceMetrics("test"))
    looking = threading.Event()

    class Broken(LookingUp):
        def look_up(self, events):
            self.looking.set()
            raise ConnectionError("Postgres went away")

    service.admission, service.personalizer = Screening(looking), Broken(looking)
    with pytest.raises(ConnectionError):
        asyncio.run(service._screen_and_look_up([(object(), {"id": n, "priority": "LOW"}) for n in "abc"]))
