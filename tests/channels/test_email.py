"""The email provider against a real aiosmtpd server on loopback: TLS modes, AUTH, composition,
SMTP reply classification, connection reuse and header-injection refusal."""
from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from datetime import datetime, timezone

import pytest
import trustme
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from channels.email import EmailProvider, queue_id
from channels.registry import provider_for
from consumer.outcomes import Delivered, Permanent, Transient
from consumer.settings import Settings, SettingsError
from tests.fixtures.smtp import PASSWORD, USERNAME

SENDER = "Tidings <noreply@tidings.test>"
# aiosmtpd cannot tell that an implicit-TLS session is encrypted, so the fixture lets it AUTH anyway.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def channel_message(delivery_id: str | None = None, **fields) -> dict:
    options = fields.pop("options", {})
    message = {
        "delivery_id": delivery_id or str(uuid.uuid4()), "notification_id": str(uuid.uuid4()),
        "channel": "email", "priority": "NORMAL", "created_at": datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc),
        "source": "tests", "tenant": "default", "category": "general", "recipient_id": "user-1",
        "address": "ada@example.com", "subject": "Invoice ready", "text": "Your invoice is ready.",
        "html": "<p>Your invoice is <b>ready</b>.</p>", "template": None, "data": "{}", "expires_at": None,
        "attempt": 1, "replay": 0, "options": json.dumps(options),
    }
    message.update(fields)
    return message


def smtp_settings(server, ca_file: str | None = None, **overrides) -> Settings:
    values = dict(smtp_host=server.host, smtp_port=server.port, smtp_tls="starttls", smtp_ca_file=ca_file,
                  smtp_username=USERNAME, smtp_password=PASSWORD, smtp_from=SENDER, smtp_timeout_s=10.0,
                  smtp_message_id_domain="tidings.test")
    values.update(overrides)
    return Settings(**values)


def send_all(settings: Settings, messages: list[dict], provider: EmailProvider | None = None) -> list:
    async def run():
        p = provider or EmailProvider(settings)
        await p.start()
        try:
            return await asyncio.gather(*(p.send(m) for m in messages))
        finally:
            await p.close()
    return asyncio.run(run())


@pytest.fixture
def tls_server(smtp_server, smtp_ca):
    _, ca_file, cert = smtp_ca
    return smtp_server(tls="starttls", cert=cert), ca_file


def test_starttls_with_auth_delivers_the_composed_message(tls_server):
    server, ca_file = tls_server
    attachment = b"%PDF-1.4 invoice bytes \x00\x01\x02"
    message = channel_message(options={
        "cc": ["grace@example.com"], "bcc": ["audit@example.com"], "reply_to": "billing@tidings.test",
        "unsubscribe_url": "https://tidings.test/u/abc",
        "attachments": [{"filename": "INV-7.pdf", "content_type": "application/pdf",
                         "content_base64": base64.b64encode(attachment).decode()}]})
    [outcome] = send_all(smtp_settings(server, ca_file), [message])

    assert outcome == Delivered(status_code=250, provider_message_id="Q000001")
    [got] = server.received
    assert got.mail_from == "noreply@tidings.test"
    assert sorted(got.rcpt_tos) == ["ada@example.com", "audit@example.com", "grace@example.com"]
    email = got.email
    assert email["From"] == SENDER and email["To"] == "ada@example.com" and email["Cc"] == "grace@example.com"
    assert email["Bcc"] is None and b"audit@example.com" not in got.content
    assert email["Reply-To"] == "billing@tidings.test" and email["Subject"] == "Invoice ready"
    assert email["Message-ID"] == f"<{message['delivery_id']}@tidings.test>"
    assert email["List-Unsubscribe"] == "<https://tidings.test/u/abc>"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email.get_body(("plain",)).get_content().strip() == "Your invoice is ready."
    assert email.get_body(("html",)).get_content().strip() == "<p>Your invoice is <b>ready</b>.</p>"
    [part] = list(email.iter_attachments())
    assert part.get_filename() == "INV-7.pdf" and part.get_content_type() == "application/pdf"
    assert part.get_content() == attachment


def test_message_id_is_the_same_on_every_retry_of_a_delivery(tls_server):
    server, ca_file = tls_server
    delivery = str(uuid.uuid4())
    send_all(smtp_settings(server, ca_file), [channel_message(delivery), channel_message(delivery, attempt=2),
                                              channel_message()])
    ids = [r.email["Message-ID"] for r in server.received]
    assert ids.count(f"<{delivery}@tidings.test>") == 2 and len(set(ids)) == 2


def test_a_server_without_starttls_gets_nothing(smtp_server, smtp_ca):
    server = smtp_server(tls="none", auth=False)
    [outcome] = send_all(smtp_settings(server, smtp_ca[1]), [channel_message()])
    assert isinstance(outcome, Permanent) and outcome.error_class == "tls_unavailable"
    assert server.received == []


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_a_certificate_from_an_untrusted_ca_gets_nothing(smtp_server, smtp_ca, tls):
    stranger = trustme.CA().issue_cert("127.0.0.1", "localhost")
    server = smtp_server(tls=tls, cert=stranger)
    [outcome] = send_all(smtp_settings(server, smtp_ca[1], smtp_tls=tls), [channel_message()])
    assert isinstance(outcome, Permanent) and outcome.error_class == "tls_verify_failed"
    assert server.received == []


def test_implicit_tls(smtp_server, smtp_ca):
    server = smtp_server(tls="implicit", cert=smtp_ca[2])
    outcomes = send_all(smtp_settings(server, smtp_ca[1], smtp_tls="implicit"), [channel_message() for _ in range(3)])
    assert all(isinstance(o, Delivered) for o in outcomes), outcomes
    assert len(server.received) == 3


def test_plain_text_only_when_configured(smtp_server):
    server = smtp_server(tls="none", auth=False)
    [outcome] = send_all(smtp_settings(server, smtp_tls="none", smtp_username=None, smtp_password=None),
                         [channel_message()])
    assert isinstance(outcome, Delivered) and len(server.received) == 1


def test_wrong_password_is_permanent(tls_server):
    server, ca_file = tls_server
    [outcome] = send_all(smtp_settings(server, ca_file, smtp_password="wrong"), [channel_message()])
    assert isinstance(outcome, Permanent) and outcome.error_class == "smtp_535" and outcome.status_code == 535
    assert server.received == []


@pytest.mark.parametrize("reply, kind", [
    ("421 4.3.2 Service shutting down", Transient), ("451 4.3.0 Try again later", Transient),
    ("550 5.1.1 Mailbox unavailable", Permanent), ("554 5.7.1 Message rejected as spam", Permanent)])
def test_smtp_replies_to_data_map_to_outcomes(tls_server, reply, kind):
    server, ca_file = tls_server
    server.handler.data_reply = reply
    code = int(reply[:3])
    [outcome] = send_all(smtp_settings(server, ca_file), [channel_message()])
    assert type(outcome) is kind and outcome.error_class == f"smtp_{code}" and outcome.status_code == code
    assert server.received == []


def test_a_dropped_connection_is_transient_and_the_pool_reconnects(tls_server):
    server, ca_file = tls_server
    provider = EmailProvider(smtp_settings(server, ca_file, smtp_connections=1))

    async def run():
        await provider.start()
        server.handler.drop_on_data = True
        first = await provider.send(channel_message())
        server.handler.drop_on_data = False
        second = await provider.send(channel_message())
        await provider.close()
        return first, second

    first, second = asyncio.run(run())
    assert isinstance(first, Transient) and first.error_class == "smtp_disconnected"
    assert isinstance(second, Delivered) and len(server.received) == 1 and server.handler.sessions == 2


def test_a_session_the_server_closed_while_idle_is_replaced(smtp_server, smtp_ca):
    server = smtp_server(tls="starttls", cert=smtp_ca[2], timeout=0.3)  # the server drops idle sessions
    provider = EmailProvider(smtp_settings(server, smtp_ca[1], smtp_connections=1))

    async def run():
        await provider.start()
        first = await provider.send(channel_message())
        deadline = time.monotonic() + 30
        while any(c.smtp.is_connected for c in provider.pool._idle) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        second = await provider.send(channel_message())
        await provider.close()
        return first, second

    outcomes = asyncio.run(run())
    assert all(isinstance(o, Delivered) for o in outcomes), outcomes
    assert len(server.received) == 2 and server.handler.sessions == 2


def test_connections_are_reused_within_the_pool_bound(tls_server):
    server, ca_file = tls_server
    outcomes = send_all(smtp_settings(server, ca_file, smtp_connections=2), [channel_message() for _ in range(50)])
    assert all(isinstance(o, Delivered) for o in outcomes)
    assert len(server.received) == 50 and server.handler.sessions <= 2


def test_a_session_carries_at_most_max_messages(tls_server):
    server, ca_file = tls_server
    settings = smtp_settings(server, ca_file, smtp_connections=1, smtp_max_messages_per_connection=10)
    outcomes = send_all(settings, [channel_message() for _ in range(25)])
    assert all(isinstance(o, Delivered) for o in outcomes)
    assert len(server.received) == 25 and server.handler.sessions == 3


def test_some_recipients_refused_is_delivered_with_per_recipient_codes(tls_server):
    server, ca_file = tls_server
    server.handler.rcpt_replies = {"ghost@example.com": "550 5.1.1 No such user"}
    [outcome] = send_all(smtp_settings(server, ca_file), [channel_message(options={"cc": "ghost@example.com"})])
    assert isinstance(outcome, Delivered)
    assert json.loads(outcome.detail)["recipients"] == {"ada@example.com": 250, "ghost@example.com": 550}
    assert server.received[0].rcpt_tos == ["ada@example.com"]


@pytest.mark.parametrize("reply, kind", [("450 4.2.1 Mailbox busy", Transient),
                                         ("550 5.1.1 No such user", Permanent)])
def test_every_recipient_refused(tls_server, reply, kind):
    server, ca_file = tls_server
    server.handler.rcpt_replies = {"ada@example.com": reply}
    [outcome] = send_all(smtp_settings(server, ca_file), [channel_message()])
    assert type(outcome) is kind and outcome.status_code == int(reply[:3])
    assert server.received == []


BAD = st.sampled_from(["\r", "\n", "\x00", "\r\n"])
SAFE = st.text(st.characters(blacklist_characters="\r\n\x00"), max_size=20)


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["subject", "address", "from", "reply_to", "cc", "bcc", "unsubscribe_url"]),
       before=SAFE, bad=BAD, after=SAFE)
def test_header_injection_never_reaches_the_server(tls_server, field, before, bad, after):
    server, ca_file = tls_server
    value = f"{before}{bad}{after}"
    if field in ("subject", "address"):
        message = channel_message(**{field: value})
    else:
        message = channel_message(options={field: [value] if field in ("cc", "bcc") else value})
    [outcome] = send_all(smtp_settings(server, ca_file), [message])
    assert outcome == Permanent("header_injection", outcome.message)
    assert server.received == [] and server.handler.sessions == 0


@pytest.mark.parametrize("fields, error_class", [
    ({"address": "not-an-address"}, "invalid_address"),
    ({"address": "a@example.com, b@example.com"}, "invalid_address"),
    ({"text": None, "html": None}, "no_content"),
    ({"options": "not json"}, "invalid_options"),
    ({"options": json.dumps({"attachments": [{"filename": "big.bin", "content_base64":
                                               base64.b64encode(b"x" * 2048).decode()}]})}, "attachment_too_large"),
])
def test_unsendable_messages_are_permanent_and_open_no_session(tls_server, fields, error_class):
    server, ca_file = tls_server
    message = channel_message(**{k: v for k, v in fields.items() if k != "options"})
    if "options" in fields:
        message["options"] = fields["options"]
    [outcome] = send_all(smtp_settings(server, ca_file, smtp_max_attachment_bytes=1024), [message])
    assert isinstance(outcome, Permanent) and outcome.error_class == error_class, outcome
    assert server.handler.sessions == 0


def test_settings_read_from_the_environment_and_hide_the_password():
    settings = Settings.load({"TIDINGS_SMTP_HOST": "smtp.example.com", "TIDINGS_SMTP_PORT": "465",
                              "TIDINGS_SMTP_TLS": "implicit", "TIDINGS_SMTP_PASSWORD": "hunter2-secret",
                              "TIDINGS_SMTP_CONNECTIONS": "4", "TIDINGS_SMTP_TIMEOUT_S": "2.5"})
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_tls) == ("smtp.example.com", 465, "implicit")
    assert settings.smtp_connections == 4 and settings.smtp_timeout_s == 2.5
    provider = provider_for("email", settings)
    assert isinstance(provider, EmailProvider)
    assert "hunter2-secret" not in repr(settings) and "hunter2-secret" not in repr(provider.server)
    with pytest.raises(SettingsError, match="TIDINGS_SMTP_TLS"):
        EmailProvider(Settings(smtp_tls="ssl"))


@pytest.mark.parametrize("reply, expected", [
    ("2.0.0 Ok: queued as 4F2B91C0A2", "4F2B91C0A2"), ("OK id=1tABCd-000Abc-Xy", "1tABCd-000Abc-Xy"),
    ("Ok 0100018e2b7a1c3d-5f6a7b8c-0000", "0100018e2b7a1c3d-5f6a7b8c-0000"), ("OK", None)])
def test_queue_id_from_the_data_reply(reply, expected):
    assert queue_id(reply) == expected
