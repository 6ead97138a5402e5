"""The email channel end to end: router -> `tidings run channel email` -> a real SMTP server
(aiosmtpd with STARTTLS from a test CA, and AUTH), tracked in Postgres."""
from __future__ import annotations

import json
import time

import psycopg

from tests.fixtures.smtp import PASSWORD, USERNAME
from tests.pipeline import make_notifications, publish, wait_for_statuses


def email_notifications(count: int, **options) -> list[dict]:
    notifications = make_notifications(count, "", channels=("email",))
    for n in notifications:
        n["recipient"]["email"] = "ada@example.com"
        n["content"] = {"email": {"template": None, "subject": "Your invoice", "text": "Plain text",
                                  "html": "<p>HTML</p>", "options": json.dumps(options)}}
    return notifications


def test_emails_reach_the_server_over_starttls_with_auth_and_are_tracked(pipeline, services, smtp_server, smtp_ca):
    ca, ca_file, cert = smtp_ca
    server = smtp_server(tls="starttls", cert=cert)
    env = {"TIDINGS_SMTP_HOST": server.host, "TIDINGS_SMTP_PORT": str(server.port), "TIDINGS_SMTP_TLS": "starttls",
           "TIDINGS_SMTP_CA_FILE": ca_file, "TIDINGS_SMTP_USERNAME": USERNAME, "TIDINGS_SMTP_PASSWORD": PASSWORD,
           "TIDINGS_SMTP_FROM": "Tidings <noreply@example.com>", "TIDINGS_SMTP_CONNECTIONS": "2"}
    _, channel, _ = services.start_pipeline("email", **env)

    good = email_notifications(20, cc=["bob@example.com"], unsubscribe_url="https://example.com/u/1")
    injected = email_notifications(1)[0]
    injected["content"]["email"]["subject"] = "Hello\r\nBcc: victim@example.com"
    publish(pipeline, good + [injected])
    wait_for_statuses(pipeline.database_url, [n["id"] for n in good], timeout=60)
    wait_for_statuses(pipeline.database_url, [injected["id"]], statuses=("dead_lettered",), timeout=60)

    deadline = time.monotonic() + 10
    while len(server.received) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    received = server.received
    assert len(received) == 20
    assert all("victim@example.com" not in r.rcpt_tos for r in received)
    assert server.handler.sessions <= 2  # connections reused, not one per message
    message = received[0].email
    assert message["List-Unsubscribe"] == "<https://example.com/u/1>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Cc"] == "bob@example.com" and set(received[0].rcpt_tos) == {"ada@example.com", "bob@example.com"}
    with psycopg.connect(pipeline.database_url) as conn:
        rows = conn.execute("SELECT provider, provider_message_id FROM deliveries WHERE status = 'sent'").fetchall()
        latencies = [ms for (ms,) in conn.execute("SELECT latency_ms FROM delivery_events WHERE status = 'sent'")]
        injection = conn.execute("SELECT error_class FROM deliveries WHERE notification_id = %s",
                                 [injected["id"]]).fetchone()[0]
    assert len(rows) == 20 and all(p == "smtp" and q.startswith("Q") for p, q in rows)  # the server's queue ids
    # The router refuses a subject with line breaks before any worker sees it (the email worker's own
    # header_injection check, for messages from elsewhere, is in tests/channels/test_email.py).
    assert injection == "invalid_event"
    assert len(latencies) == 20 and all(ms is not None and ms >= 0 for ms in latencies)
    assert PASSWORD not in channel.log()
