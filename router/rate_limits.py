"""Rate limits in the router, per delivery: per recipient per channel, per recipient and category
per channel, and per source per channel, each in fixed windows (default: 100 per recipient per
channel per hour). Rules are configured per channel and priority ("scope[:channel][:priority]=N/period";
the most specific matching rule of each scope applies); exempt priorities (URGENT by default) are
neither limited nor counted. Over a limit a delivery is suppressed, or, with the action `defer`,
counted in the next window and parked on a retry tier until it starts (if that window is full too,
it is suppressed)."""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from consumer.durations import parse_rate, whole_seconds
from consumer.settings import Settings, SettingsError
from consumer.topics import PRIORITIES
from consumer.channel_specs import channel_names

SCOPES = ("recipient", "category", "source")
ACTIONS = ("suppress", "defer")
# scope[:qualifier...]=rate; the rate is the one grammar of consumer/durations.py.
_RULE = re.compile(r"^(\w+)((?::\w+)*)=(.+)$")

Window = tuple[str, datetime]  # (counter, window start)


@dataclass(frozen=True)
class RateLimitRule:
    scope: str
    channel: str | None
    priority: str | None
    limit: int
    period_s: int

    def specificity(self) -> int:
        return (self.channel is not None) * 2 + (self.priority is not None)


@dataclass(frozen=True)
class Verdict:
    decision: str  # allowed | exempt | suppressed | deferred
    until: datetime | None = None  # deferred: when the window with room starts
    rule: str = ""  # the rule that was over its limit


ALLOWED, EXEMPT = Verdict("allowed"), Verdict("exempt")  # the common verdicts, made once


def parse_rules(text: str, setting: str = "TIDINGS_RATE_LIMITS") -> list[RateLimitRule]:
    rules = []
    for token in (t.strip() for t in text.split(",") if t.strip()):
        match = _RULE.match(token)
        qualifiers = [q for q in (match[2].split(":") if match else []) if q]
        if not match or match[1] not in SCOPES or len(qualifiers) > 2:
            raise SettingsError(f"{setting}: {token!r} is not a rule like recipient=100/1h or "
                                f"category:email:low=5/1d (scopes: {', '.join(SCOPES)})")
        channel = next((q for q in qualifiers if q in channel_names()), None)
        priority = next((q for q in qualifiers if q in PRIORITIES), None)
        if len(qualifiers) != (channel is not None) + (priority is not None):
            raise SettingsError(f"{setting}: {token!r}: qualifiers must be a channel ({', '.join(channel_names())}) "
                                f"and/or a priority ({', '.join(PRIORITIES)})")
        limit, period = parse_rate(match[3], f"{setting}: {token!r}")
        if period < 1 or period != int(period):
            raise SettingsError(f"{setting}: {token!r}: the period must be a whole number of seconds")
        rules.append(RateLimitRule(match[1], channel, priority, limit, whole_seconds(period)))
    return rules


class RateLimits:
    def __init__(self, rules: list[RateLimitRule], action: str, exempt: set[str], prefix: str):
        if action not in ACTIONS:
            raise SettingsError(f"TIDINGS_RATE_LIMIT_ACTION: {action!r} is not one of {', '.join(ACTIONS)}")
        self.rules, self.action, self.exempt, self.prefix = rules, action, exempt, prefix
        self._applicable: dict[tuple[str, str], list[RateLimitRule]] = {}  # by (channel, priority)

    @classmethod
    def from_settings(cls, settings: Settings) -> "RateLimits":
        exempt = {p.strip().lower() for p in settings.rate_limit_exempt.split(",") if p.strip()}
        if unknown := exempt - set(PRIORITIES):
            raise SettingsError(f"TIDINGS_RATE_LIMIT_EXEMPT: {', '.join(sorted(unknown))} is not a priority")
        return cls(parse_rules(settings.rate_limits), settings.rate_limit_action, exempt, settings.topic_prefix)

    def horizon(self, now: datetime) -> datetime:
        """Windows that started before this decide nothing any more."""
        return now - timedelta(seconds=max((r.period_s for r in self.rules), default=0) + 86400)

    def applicable(self, message: dict) -> list[RateLimitRule]:
        """The most specific matching rule of each scope for this delivery."""
        key = (message["channel"], message["priority"])
        if (rules := self._applicable.get(key)) is None:
            rules = self._applicable[key] = self._choose(key[0], key[1].lower())
        return rules

    def _choose(self, channel: str, priority: str) -> list[RateLimitRule]:
        chosen: dict[str, RateLimitRule] = {}
        for rule in self.rules:
            if rule.channel not in (None, channel) or rule.priority not in (None, priority):
                continue
            if rule.scope not in chosen or rule.specificity() > chosen[rule.scope].specificity():
                chosen[rule.scope] = rule
        return list(chosen.values())

    def counter(self, rule: RateLimitRule, message: dict) -> str:
        scope = rule.scope  # each delivery asks: only its own scope's name is made
        who = (message["recipient_id"] if scope == "recipient" else message["source"] if scope == "source"
               else f"{message['recipient_id']}:{message['category']}")
        return f"{self.prefix}|{scope}:{who}:{message['channel']}|{rule.period_s}"

    def windows(self, message: dict, now: datetime, ahead: tuple[int, ...] | None = None) -> list[Window]:
        """Every counter window a decision may read: this window and, when deferring, the next
        (`ahead=(0,)`: the windows a delivery let through now is counted in)."""
        ahead = ahead or ((0, 1) if self.action == "defer" else (0,))
        return [(self.counter(r, message), window_start(now, r.period_s, k)) for r in self.applicable(message)
                for k in ahead]

    def decide(self, message: dict, now: datetime, counts: dict[Window, int]) -> Verdict:
        """Counts the delivery in `counts` (read and updated in place) when it is let through."""
        if message["priority"].lower() in self.exempt:
            return EXEMPT
        rules = self.applicable(message)
        moment, steps = now, (0, 1) if self.action == "defer" else (0,)
        for step in steps:
            windows = [((self.counter(r, message), window_start(moment, r.period_s)), r) for r in rules]
            full = [(w, r) for w, r in windows if counts.get(w, 0) >= r.limit]
            if not full:
                for w, _ in windows:
                    counts[w] = counts.get(w, 0) + 1
                return ALLOWED if step == 0 else Verdict("deferred", moment, describe(full_rule))
            full_rule = full[0][1]
            moment = max(window_start(moment, r.period_s, 1) for _, r in full)
        return Verdict("suppressed", rule=describe(full_rule))


@functools.lru_cache(maxsize=1024)  # a batch's deliveries share their moment: one datetime per window
def window_start(moment: datetime, period_s: int, ahead: int = 0) -> datetime:
    start = math.floor(moment.timestamp() / period_s) * period_s + ahead * period_s
    return datetime.fromtimestamp(start, timezone.utc)


def describe(rule: RateLimitRule) -> str:
    qualifiers = "".join(f":{q}" for q in (rule.channel, rule.priority) if q)
    return f"{rule.scope}{qualifiers}={rule.limit}/{rule.period_s}s"
