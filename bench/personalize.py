"""The router's personalisation step in one process, on a real Postgres: events/s planned with
inline content and no database (the ceiling), and with every event resolved from the directory,
checked against preferences and rendered from a three-part email template. Batches of 500, as
the router fetches them.

  python -m bench.personalize [--events 20000]"""
from __future__ import annotations

import argparse
import json
import time
import uuid

import psycopg

from bench.testbed import Testbed
from consumer.events import utcnow
from consumer.settings import Settings
from router.personalize import Personalizer
from router.preferences import Preferences
from router.recipients import RecipientDirectory
from router.template_store import TemplateStore

BATCH = 500
INVOICE = {"name": "invoice", "sample": {"invoice": {"number": "INV-1", "total": 3, "lines": [{"sku": "A", "qty": 1}]}},
           "parts": {"email": {"default": {
               "subject": "Invoice {{ invoice.number }} for {{ recipient.id }}",
               "text": "Total {{ invoice.total }}\n{% for l in invoice.lines %}{{ l.sku }} x {{ l.qty }}\n{% endfor %}",
               "html": "<h1>{{ invoice.number }}</h1><ul>{% for l in invoice.lines %}<li>{{ l.sku }}</li>{% endfor %}</ul>"},
               "pt": {"subject": "Fatura {{ invoice.number }}"}}}}


def events(count: int, templated: bool) -> list[dict]:
    content = {"template": {"name": "invoice", "version": None}} if templated else \
        {"template": None, "subject": "Invoice", "text": "Total 3", "html": "<h1>Invoice</h1>"}
    return [{"id": str(uuid.uuid4()), "created_at": utcnow(), "priority": "NORMAL", "source": "bench", "tenant": "t",
             "category": "invoice", "channels": ["email"],
             "recipient": {"id": f"r{i}", "email": None if templated else f"r{i}@example.com", "phone": None,
                           "slack": None, "webhook_url": None, "locale": None, "timezone": None},
             "content": {"default": {"subject": None, "text": None, "html": None, "options": "{}", **content}},
             "data": json.dumps({"invoice": {"number": f"INV-{i}", "total": i, "lines": [{"sku": "A", "qty": 1}] * 3}}),
             "expires_at": None, "idempotency_key": None} for i in range(count)]


def rate(personalizer: Personalizer, batch_events: list[dict]) -> tuple[float, int]:
    started, sent = time.perf_counter(), 0
    for start in range(0, len(batch_events), BATCH):
        for plan in personalizer.plan(batch_events[start:start + BATCH]):
            sent += sum(1 for d in plan.deliveries if d.suppressed is None and d.refusal is None) if not plan.failure else 0
    return len(batch_events) / (time.perf_counter() - started), sent


def measure(events_count: int = 20000) -> dict:
    with Testbed() as bed:
        url = bed.database()
        with psycopg.connect(url, autocommit=True) as conn:
            TemplateStore(conn).push([INVOICE])
            RecipientDirectory(conn).upsert([{"id": f"r{i}", "email": f"r{i}@example.com",
                                              "locale": "pt-BR" if i % 2 else "en"} for i in range(events_count)])
            prefs = Preferences(conn)
            for i in range(0, events_count, 10):  # every tenth recipient opted out of invoices by email
                prefs.set(f"r{i}", channel="email", category="invoice", enabled=False)
        inline, inline_sent = rate(Personalizer(None, Settings()), events(events_count, templated=False))
        personalizer = Personalizer.from_settings(Settings(database_url=url))
        try:
            templated, templated_sent = rate(personalizer, events(events_count, templated=True))
        finally:
            personalizer.close()
    expected = events_count - len(range(0, events_count, 10))
    if inline_sent != events_count or templated_sent != expected:
        raise RuntimeError(f"planned {inline_sent} inline and {templated_sent} templated sends, "
                           f"expected {events_count} and {expected}")
    return {"events": events_count, "inline_events_per_s": round(inline),
            "directory_preferences_templates_events_per_s": round(templated),
            "templated_over_inline": round(templated / inline, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    print(json.dumps(measure(parser.parse_args().events), indent=2))


if __name__ == "__main__":
    main()
