"""A notification's channel fallback as steps, worked out from its timeline (tracking/timeline.py):
each step's channel, when it was due, and whether it was taken and why. Read by `tidings status`."""
from __future__ import annotations

# The reasons the router and the channel workers record on fallback steps (router/fallback.py,
# channels/fallback_goals.py).
FALLBACK, NOT_NEEDED, TAKEN = "fallback", "fallback_not_needed", "fallback_taken"


def fallback_steps(events: list[dict]) -> list[dict]:
    """[{step, channel, due_at, outcome, why}], the first step first; empty without a fallback.
    outcome: the first step's status; pending, taken (then the step's status), skipped or
    cancelled for the others."""
    scheduled = {e["channel"]: e for e in events if e["status"] == "scheduled" and e["reason"] == FALLBACK}
    if not scheduled:
        return []
    by_channel: dict[str, list[dict]] = {}
    for event in events:  # in timeline order: by channel, then time
        by_channel.setdefault(event["channel"], []).append(event)
    steps = [{"step": 1, "channel": channel, "due_at": None, "outcome": rows[-1]["status"], "why": "the first step"}
             for channel, rows in by_channel.items() if channel not in scheduled]
    later = sorted(scheduled.values(), key=lambda e: e["due_at"] or "")
    for number, record in enumerate(later, start=len(steps) + 1):
        rows = by_channel[record["channel"]]
        last = rows[-1]
        taken = next((e for e in rows if e["reason"] == TAKEN), None)
        if last["status"] == "scheduled":
            outcome, why = "pending", record["error_message"] or ""
        elif last["status"] == "cancelled":
            outcome = "skipped" if last["reason"] == NOT_NEEDED else "cancelled"
            why = last["error_message"] or last["reason"] or ""
        else:
            outcome = f"taken: {last['status']}" if taken is not None or last["status"] != "queued" else "taken"
            why = (taken or {}).get("error_message") or ""
        steps.append({"step": number, "channel": record["channel"], "due_at": record["due_at"], "outcome": outcome,
                      "why": why})
    return steps
