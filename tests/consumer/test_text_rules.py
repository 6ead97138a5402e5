"""The character rules decide the same whether the text takes the printable fast path or the
regex: unprintable but allowed characters (NBSP, TAB in a body) pass, refused ones are named."""
from __future__ import annotations

import pytest

from consumer.text_rules import may_decode_to_nul, notification_flaw


def notification(**fields) -> dict:
    event = {"id": "n-1", "priority": "NORMAL", "source": "billing", "tenant": "acme", "category": "invoice",
             "channels": ["email"], "recipient": {"id": "u-1", "addresses": {"email": "a@example.com"}},
             "content": {"email": {"subject": "Hello", "text": "Hi", "html": None, "template": None,
                                   "options": "{}"}},
             "data": '{"n": 1}', "created_at": "2026-01-01T00:00:00Z", "expires_at": None, "idempotency_key": None}
    for path, value in fields.items():
        *parents, name = path.split("__")
        target = event
        for parent in parents:
            target = target[parent]
        target[name] = value
    return event


@pytest.mark.parametrize("path, value", [
    ("source", "billing\u00a0eu"),  # NBSP: unprintable, allowed
    ("content__email__subject", "Caf\u00e9 \U0001f600"),
    ("content__email__text", "line one\r\n\tline two"),
    ("data", '{"note": "tab\\tand \\u00e9"}'),
])
def test_allowed_characters_pass(path, value):
    assert notification_flaw(notification(**{path: value})) is None


@pytest.mark.parametrize("path, value, problem", [
    ("source", "bill\x85ing", "source: contains a control character (U+0085) at position 5"),
    ("content__email__subject", "Hi\nthere", "content.email.subject: contains a control character (U+000A)"),
    ("content__email__text", "a\x0bb", "content.email.text: contains a control character (U+000B)"),
    ("recipient__id", "u\ud800", "recipient.id: contains an unpaired surrogate (U+D800)"),
])
def test_refused_characters_are_named(path, value, problem):
    assert notification_flaw(notification(**{path: value})).startswith(problem)


@pytest.mark.parametrize("text, may", [
    ('{"a": "plain"}', False),
    ('{"a": "caf\u00e9"}', False),
    ('{"a": "\\u0000"}', True),
    ('{"a": "\\ud83d\\ude00"}', True),  # a valid pair matches too; the walk then finds nothing
    ('{"a": "raw\x00nul"}', True),
])
def test_json_text_that_may_decode_to_nul(text, may):
    assert may_decode_to_nul(text) is may
