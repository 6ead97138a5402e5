"""`tidings status` shows a channel fallback step by step from the timeline: the first step's status,
then each later step in turn order, pending (with why it waits), taken (its status and why) or
skipped (why it was not needed)."""
from __future__ import annotations

from rich.console import Console

from cli.tables import show
from tracking.fallback_steps import fallback_steps


def event(channel, status, reason=None, due_at=None, error_message=None) -> dict:
    return {"channel": channel, "status": status, "reason": reason, "due_at": due_at, "error_message": error_message}


def test_each_step_and_why_it_was_or_was_not_taken():
    events = [  # timeline order: by channel, then time
        event("email", "scheduled", "fallback", "2026-11-30T14:20:00.000Z",
              "fallback step 3: taken unless webhook was sent by then"),
        event("inapp", "queued"), event("inapp", "sent"),
        event("sms", "scheduled", "fallback", "2026-11-30T15:20:00.000Z", "fallback step 4: ..."),
        event("sms", "cancelled", "fallback_not_needed", error_message="the chain ended before: email was not needed"),
        event("webhook", "scheduled", "fallback", "2026-11-30T14:05:00.000Z", "fallback step 2: ..."),
        event("webhook", "queued", "fallback_taken", error_message="step 2: inapp was not read by then (sent)"),
        event("webhook", "sent"),
    ]
    steps = fallback_steps(events)
    assert [(s["step"], s["channel"], s["outcome"], s["why"]) for s in steps] == [
        (1, "inapp", "sent", "the first step"),
        (2, "webhook", "taken: sent", "step 2: inapp was not read by then (sent)"),
        (3, "email", "pending", "fallback step 3: taken unless webhook was sent by then"),
        (4, "sms", "skipped", "the chain ended before: email was not needed")]
    console = Console(width=120, record=True)
    show(console, "fallback", ("step", "channel", "due (UTC)", "outcome", "why"),
         [(str(s["step"]), s["channel"], (s["due_at"] or "")[:19].replace("T", " "), s["outcome"], s["why"])
          for s in steps], free_text=("why",))
    shown = console.export_text()
    print(shown)
    assert "2026-11-30 14:05:00" in shown and "step 2: inapp was not read by then (sent)" in shown


def test_a_notification_without_a_fallback_has_no_steps():
    assert fallback_steps([event("webhook", "scheduled", "scheduled", "2026-11-30T14:05:00.000Z"),
                           event("webhook", "sent")]) == []
