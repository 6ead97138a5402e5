"""TemplateStore and the router's TemplateCache on a real Postgres: versions, pins, all-or-nothing
pushes that name the failing part and line, and new versions picked up after the cache TTL."""
from __future__ import annotations

import psycopg
import pytest

from router.template_cache import TemplateCache
from router.template_store import TemplateInvalid, TemplateStore
from router.templates import RenderError, Renderer
from tracking.migrate import migrate


@pytest.fixture
def conn(database_url):
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


def invoice(subject: str = "Invoice {{ invoice.number }}") -> dict:
    return {"name": "invoice", "description": "monthly invoice", "sample": {"invoice": {"number": "INV-1"}},
            "parts": {"email": {"default": {"subject": subject, "html": "<b>{{ invoice.number }}</b>"},
                                "pt-BR": {"subject": "Fatura {{ invoice.number }}"}},
                      "sms": {"default": {"text": "Invoice {{ invoice.number }} is ready"}}}}


def test_push_versions_only_changes_and_keeps_old_versions(conn):
    store = TemplateStore(conn)
    assert store.push([invoice()]) == [{"name": "invoice", "version": 1, "changed": True}]
    assert store.push([invoice()]) == [{"name": "invoice", "version": 1, "changed": False}]
    assert store.push([invoice("New {{ invoice.number }}")]) == [{"name": "invoice", "version": 2, "changed": True}]
    assert store.show("invoice")["parts"]["email"]["default"]["subject"] == "New {{ invoice.number }}"
    assert store.show("invoice", 1)["parts"]["email"]["default"]["subject"] == "Invoice {{ invoice.number }}"
    assert store.show("invoice", 3) is None and store.show("nope") is None
    (row,) = store.list()
    assert (row["name"], row["latest_version"], row["versions"], row["channels"]) == ("invoice", 2, 2, ["email", "sms"])


def test_a_retired_template_has_no_latest_but_pinned_versions_render(conn):
    store = TemplateStore(conn)
    store.push([invoice()])
    assert store.retire("invoice") == 1 and store.retire("invoice") == 0
    assert store.latest_version("invoice") is None and store.show("invoice") is None and store.list() == []
    assert store.get("invoice", 1).version == 1
    cache = TemplateCache(store, ttl_s=0)
    with pytest.raises(RenderError, match="no template 'invoice'"):
        cache.get("invoice")
    assert store.push([invoice()]) == [{"name": "invoice", "version": 2, "changed": True}]
    assert cache.get("invoice").version == 2


def test_an_invalid_template_stores_nothing_and_says_where(conn):
    store = TemplateStore(conn)
    good = {"name": "welcome", "sample": {"name": "Ada"}, "parts": {"sms": {"default": {"text": "Hi {{ name }}"}}}}
    broken_syntax = invoice()
    broken_syntax["parts"]["email"]["pt-BR"]["subject"] = "Fatura\n{{ invoice.number }"
    missing = {"name": "reminder", "sample": {}, "parts": {"slack": {"default": {"text": "line\n\n{{ due.date }}"}}}}
    with pytest.raises(TemplateInvalid) as caught:
        store.push([good, broken_syntax, missing])
    errors = {(e.where, e.kind, e.line) for e in caught.value.errors}
    assert errors == {("invoice/email.subject.pt-BR", "syntax_error", 2),
                      ("reminder/slack.text", "missing_variable", 3)}
    assert conn.execute("SELECT count(*) FROM templates").fetchone()[0] == 0


def test_structural_mistakes_are_refused(conn):
    store = TemplateStore(conn)
    cases = {
        "unknown_channel": {"name": "a", "parts": {"fax": {"default": {"text": "x"}}}},
        "unknown_part": {"name": "b", "parts": {"sms": {"default": {"subject": "x"}}}},
        "no_default_locale": {"name": "c", "parts": {"sms": {"fr": {"text": "x"}}}},
        "invalid_locale": {"name": "e", "parts": {"sms": {"default": {"text": "x"}, "pt-br": {"text": "y"}}}},
        "invalid_name": {"name": "../etc", "parts": {"sms": {"default": {"text": "x"}}}},
        "sandbox_violation": {"name": "d", "parts": {"sms": {"default": {"text": "{{ ''.__class__ }}"}}}},
    }
    for kind, template in cases.items():
        with pytest.raises(TemplateInvalid) as caught:
            store.push([template])
        assert [e.kind for e in caught.value.errors] == [kind]
    assert conn.execute("SELECT count(*) FROM templates").fetchone()[0] == 0


def test_cache_serves_pins_and_picks_up_a_new_latest_after_the_ttl(conn):
    store = TemplateStore(conn)
    store.push([invoice()])
    now = [0.0]
    cache = TemplateCache(store, ttl_s=5, clock=lambda: now[0])
    assert cache.get("invoice").version == 1
    store.push([invoice("Changed {{ invoice.number }}")])
    now[0] = 4.9
    assert cache.get("invoice").version == 1  # still within the TTL
    assert cache.get("invoice", 2).version == 2  # a pin is read at once
    now[0] = 5.0
    latest = cache.get("invoice")
    assert latest.version == 2
    assert Renderer().render_channel(latest, "email", None, {"invoice": {"number": "7"}})["subject"] == "Changed 7"
    assert cache.get("invoice", 1).version == 1
    with pytest.raises(RenderError) as caught:
        cache.get("invoice", 9)
    assert caught.value.kind == "template_not_found"
    with pytest.raises(RenderError):
        cache.get("absent")
