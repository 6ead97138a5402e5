"""Which events the router folds into digests, and the default text of a digest without a template."""
from __future__ import annotations

import pytest

from consumer.settings import SettingsError
from router.digests import default_text, digest_of, parse_rules


def event(category="comments", priority="NORMAL", digest=None) -> dict:
    return {"category": category, "priority": priority, "digest": digest}


def test_rules_are_category_windows_and_refuse_what_is_not():
    assert parse_rules("comments=10m, mentions=1h") == {"comments": 600.0, "mentions": 3600.0}
    assert parse_rules("") == {}
    for bad in ("comments", "=10m", "comments=soon"):
        with pytest.raises(SettingsError, match="TIDINGS_DIGEST_RULES"):
            parse_rules(bad)


def test_the_event_digest_wins_and_rules_spare_urgent_and_critical():
    rules, critical = {"comments": 600.0}, frozenset({"security"})
    assert digest_of(event(digest={"key": "thread-7", "window_ms": 3000}), rules, critical) == ("thread-7", 3.0)
    assert digest_of(event(priority="URGENT", digest={"key": "k", "window_ms": 1000}), rules, critical) == ("k", 1.0)
    assert digest_of(event(), rules, critical) == ("comments", 600.0)
    assert digest_of(event(priority="URGENT"), rules, critical) is None
    assert digest_of(event("security"), {"security": 60.0}, critical) is None
    assert digest_of(event("likes"), rules, critical) is None


def test_the_default_text_lists_subjects_then_texts():
    items = [{"subject": "a", "text": "x", "notification_id": "1"}, {"subject": None, "text": "b", "notification_id": "2"},
             {"subject": None, "text": None, "notification_id": "3"}]
    assert default_text(items) == "3 new notifications: a; b; 3"
    assert default_text(items[:1]) == "1 new notification: a"
