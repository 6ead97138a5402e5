"""When a channel fallback step comes due, the worker takes it only if the previous step did not reach
the step's goal (sent, delivered, read) and no earlier step was read, delivered or itself not needed."""
from __future__ import annotations

import pytest

from channels.fallback_goals import NOT_NEEDED, Record, judge_step
from consumer.holds import FallbackStep


def sent(channel: str, status: str = "sent", reason: str | None = None) -> Record:
    return Record(channel, status, reason, False)


def read(channel: str) -> Record:
    return Record(channel, "read", None, True)


@pytest.mark.parametrize("unless, known, needed", [
    ("read", [sent("inapp")], True),                       # sent, not read: the next step goes
    ("read", [sent("inapp"), read("inapp")], False),
    ("sent", [sent("inapp")], False),
    ("sent", [sent("inapp", "retry_scheduled")], True),    # still on its retry tiers: not sent by then
    ("sent", [sent("inapp", "dead_lettered")], True),
    ("sent", [], True),                                    # nothing recorded (yet): not reached
    ("delivered", [sent("inapp")], True),
    ("delivered", [sent("inapp", "delivered")], False),
    ("delivered", [sent("inapp", "complained")], False),
    ("delivered", [sent("inapp", "bounced")], True),
    ("sent", [sent("inapp", "bounced")], False),           # a receipt of any kind means it was sent
    ("read", [sent("inapp", "delivered")], False),         # a receipt of any step ends the chain
])
def test_a_step_is_needed_unless_the_previous_one_reached_its_goal(unless, known, needed):
    verdict = judge_step("webhook", FallbackStep(2, "inapp", unless), [*known, sent("webhook", "scheduled")])
    assert verdict.needed is needed, verdict.why


def test_a_read_or_receipt_of_any_earlier_step_ends_the_chain():
    step = FallbackStep(3, "webhook", "sent")
    verdict = judge_step("email", step, [sent("inapp"), read("inapp"), sent("webhook", "dead_lettered")])
    assert not verdict.needed and verdict.why == "inapp was read"
    verdict = judge_step("email", step, [sent("push", "delivered"), sent("webhook", "failed")])
    assert not verdict.needed and "push was delivered" in verdict.why


def test_after_a_step_that_was_not_needed_none_is():
    step = FallbackStep(3, "webhook", "sent")
    verdict = judge_step("email", step, [sent("inapp"), sent("webhook", "cancelled", NOT_NEEDED)])
    assert not verdict.needed and "webhook was not needed" in verdict.why


def test_a_taken_step_says_what_the_previous_one_had_reached():
    verdict = judge_step("webhook", FallbackStep(2, "inapp", "read"), [sent("inapp")])
    assert verdict.needed and verdict.why == "step 2: inapp was not read by then (sent)"
