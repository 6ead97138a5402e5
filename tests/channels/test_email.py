"""The email provider against a real aiosmtpd server on loopback: TLS modes, AUTH, composition (header
and body encodings, boundaries, identical retries), SMTP reply classification, connection reuse and refusals."""
from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from datetime import datetime, timezone
from email import message_from_bytes, policy

import pytest
import trustme
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from channels.email.provider import EmailProvider, queue_id
from channels.registry import provider_for
from consumer.outcomes import Delivered, Permanent, Transient
from consumer.settings import Settings, SettingsError
from tests.fixtures.smtp import PASSWORD, USERNAME
from channels.email.settings import EmailSettings

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


@pytest.mark.parametrize("fields", [
    {"subject": "Your invoice " * 66_000},  # 800 kB: once held the worker's event loop for 70 s
    {"subject": "ü" * 1025},  # 2,050 octets in UTF-8
    {"address": "a" * 990 + "@example.com"},
    {"options": {"from": "N" * 1000 + " <noreply@tidings.test>"}},
    {"options": {"reply_to": "R" * 1000 + " <r@tidings.test>"}},
    {"options": {"cc": [f"Person {i} <p{i}@example.com>" for i in range(600)]}},  # 16 KB of Cc
    {"options": {"attachments": [{"filename": "f" * 999 + ".pdf", "content_base64": "aGk="}]}},
])
def test_an_oversized_header_is_refused_before_it_is_encoded(tls_server, fields):
    server, ca_file = tls_server
    [outcome] = send_all(smtp_settings(server, ca_file), [channel_message(**fields)])
    assert isinstance(outcome, Permanent) and outcome.error_class == "header_too_long", outcome
    assert len(outcome.message) < 200
    assert server.received == [] and server.handler.sessions == 0


def test_headers_just_within_the_caps_are_sent(tls_server):
    server, ca_file = tls_server
    subject = ("Weekly digest " * 147)[:2048]
    message = channel_message(subject=subject, options={
        "from": "N" * 970 + " <noreply@tidings.test>", "cc": [f"p{i}@example.com" for i in range(300)]})
    [outcome] = send_all(smtp_settings(server, ca_file), [message])
    assert isinstance(outcome, Delivered), outcome
    [got] = server.received
    assert got.email["Subject"] == subject and len(got.rcpt_tos) == 301


def test_settings_read_from_the_environment_and_hide_the_password():
    settings = Settings.load({"TIDINGS_SMTP_HOST": "smtp.example.com", "TIDINGS_SMTP_PORT": "465",
                              "TIDINGS_SMTP_TLS": "implicit", "TIDINGS_SMTP_PASSWORD": "hunter2-secret",
                              "TIDINGS_SMTP_CONNECTIONS": "4", "TIDINGS_SMTP_TIMEOUT_S": "2.5"})
    smtp = settings.section(EmailSettings)  # the channel's own settings model
    assert (smtp.smtp_host, smtp.smtp_port, smtp.smtp_tls) == ("smtp.example.com", 465, "implicit")
    assert smtp.smtp_connections == 4 and smtp.smtp_timeout_s == 2.5
    assert smtp.smtp_password.get_secret_value() == "hunter2-secret" and "hunter2" not in repr(smtp)
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


# What str.splitlines breaks at besides CR, LF and NUL; the stdlib raised ValueError on each.
LINE_BREAKS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def header_fields_with(char: str) -> dict[str, dict]:
    """One message per header field, that field carrying `char` mid-value."""
    attachment = {"filename": "INV-7.pdf", "content_type": "application/pdf", "content_base64": "aGk="}
    return {
        "subject": channel_message(subject=f"Invoice{char}Bcc: x@evil.test"),
        "address": channel_message(address=f"ada{char}@example.com"),
        "from name": channel_message(options={"from": f"Ada{char}Lovelace <ada@tidings.test>"}),
        "from address": channel_message(options={"from": f"ada{char}@tidings.test"}),
        "cc": channel_message(options={"cc": [f"grace{char}@example.com"]}),
        "bcc": channel_message(options={"bcc": f"audit@example.com{char}"}),
        "reply_to": channel_message(options={"reply_to": f"Billing{char} <billing@tidings.test>"}),
        "attachment filename": channel_message(options={"attachments": [{**attachment,
                                                                         "filename": f"INV{char}7.pdf"}]}),
        "attachment content_type": channel_message(options={"attachments": [
            {**attachment, "content_type": f"application/pdf{char}"}]}),
        "unsubscribe_url": channel_message(options={"unsubscribe_url": f"https://tidings.test/u/{char}abc"}),
    }


@pytest.mark.parametrize("char", LINE_BREAKS, ids=[f"U+{ord(c):04X}" for c in LINE_BREAKS])
def test_every_line_break_character_in_a_header_field_is_header_injection(tls_server, char):
    server, ca_file = tls_server
    messages = header_fields_with(char)
    outcomes = send_all(smtp_settings(server, ca_file), list(messages.values()))
    refused = {field: (type(o).__name__, getattr(o, "error_class", None)) for field, o in zip(messages, outcomes)}
    assert refused == {field: ("Permanent", "header_injection") for field in messages}
    assert server.received == [] and server.handler.sessions == 0


@pytest.mark.parametrize("char", LINE_BREAKS, ids=[f"U+{ord(c):04X}" for c in LINE_BREAKS])
def test_a_line_break_character_in_the_configured_sender_is_header_injection(tls_server, char):
    server, ca_file = tls_server
    [outcome] = send_all(smtp_settings(server, ca_file, smtp_from=f"Tidings{char} <noreply@tidings.test>"),
                         [channel_message()])
    assert outcome == Permanent("header_injection", outcome.message)
    assert server.handler.sessions == 0


def header_lines(content: bytes, name: bytes) -> list[bytes]:
    """The physical lines of one top-level header: its first line and any folded continuations."""
    lines = content.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    start = next(i for i, line in enumerate(lines) if line.lower().startswith(name.lower() + b":"))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i][:1].isspace()), len(lines))
    return lines[start:end]


# "List-Unsubscribe: <" + url + ">" is at most 998 octets for a URL of 978 characters.
@pytest.mark.parametrize("length", [200, 978])
def test_a_long_unsubscribe_url_goes_on_one_line_as_it_is(tls_server, length):
    server, ca_file = tls_server
    url = ("https://tidings.test/u/?t=" + "a1-_.~%2F" * 200)[:length]
    [outcome] = send_all(smtp_settings(server, ca_file), [channel_message(options={"unsubscribe_url": url})])
    assert isinstance(outcome, Delivered), outcome
    [got] = server.received
    assert header_lines(got.content, b"List-Unsubscribe") == [f"List-Unsubscribe: <{url}>".encode()]
    assert got.email["List-Unsubscribe"] == f"<{url}>"


@pytest.mark.parametrize("url", [
    "https://tidings.test/u/" + "a" * 956,  # one character past a 998-octet line
    "https://tidings.test/u/" + "a" * 5000,
    "https://tidings.test/u/abmeldung-für-zoë",  # would need encoded-words, which no client reads as a URL
    "https://tidings.test/u/a\tb",
])
def test_an_unsubscribe_url_that_cannot_go_on_one_line_as_it_is_is_refused(tls_server, url):
    server, ca_file = tls_server
    [outcome] = send_all(smtp_settings(server, ca_file), [channel_message(options={"unsubscribe_url": url})])
    assert isinstance(outcome, Permanent) and outcome.error_class == "invalid_options", outcome
    assert server.handler.sessions == 0


@pytest.mark.parametrize("content_type", [
    "application/pdf", "image/svg+xml", "text/x-c++src", "APPLICATION/VND.MS-EXCEL",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "application/x.tidings_report~1"])
def test_an_attachment_content_type_that_is_a_valid_type_and_subtype_is_sent_as_given(tls_server, content_type):
    server, ca_file = tls_server
    attachment = {"filename": "a.bin", "content_type": content_type, "content_base64": "aGk="}
    [outcome] = send_all(smtp_settings(server, ca_file), [channel_message(options={"attachments": [attachment]})])
    assert isinstance(outcome, Delivered), outcome
    [part] = list(server.received[0].email.iter_attachments())
    assert part["Content-Type"] == content_type and part.get_content_type() == content_type.lower()
    assert part.get_payload(decode=True) == b"hi"


@pytest.mark.parametrize("content_type", [
    "pdf", "application/", "/pdf", "application/pdf/x", "application/pdf; name=evil.exe", "application/pdf ",
    " application/pdf", "application/p df", "application/(pdf)", 'application/"pdf"', "application/pdf,text/html",
    "application/pdf=", "applicatión/pdf", "application\\/pdf",
    "multipart/mixed", "Multipart/Mixed", "MULTIPART/ALTERNATIVE", "message/rfc822", "Message/Partial",
    "MESSAGE/external-body"])
def test_an_attachment_content_type_that_is_not_a_plain_type_and_subtype_is_refused(tls_server, content_type):
    server, ca_file = tls_server
    attachment = {"filename": "a.bin", "content_type": content_type, "content_base64": "aGk="}
    [outcome] = send_all(smtp_settings(server, ca_file), [channel_message(options={"attachments": [attachment]})])
    assert isinstance(outcome, Permanent) and outcome.error_class == "invalid_options", outcome
    assert server.handler.sessions == 0


# Each passes the address check but is no RFC 5322 dot-atom; it goes into the headers and the
# envelope as given, not through the stdlib's address parser.
ODD_ADDRESSES = [".a@b.co", "a.@example.com", "a..b@example.com"]


@pytest.mark.parametrize("address", ODD_ADDRESSES)
def test_an_address_the_stdlib_parser_could_not_handle_is_sent(tls_server, address):
    server, ca_file = tls_server
    message = channel_message(address=address, options={"from": f"Ada <{address}>", "cc": address.upper(),
                                                         "reply_to": address})
    [outcome] = send_all(smtp_settings(server, ca_file), [message])
    assert isinstance(outcome, Delivered), outcome
    [got] = server.received
    assert got.mail_from == address and got.rcpt_tos == [address]  # Cc is the same mailbox, sent to once
    assert got.email["To"] == address and got.email["Reply-To"] == address
    assert got.email["From"].addresses[0].addr_spec == address


# These pass the address check too, but the stdlib's header parser raises IndexError on them.
@pytest.mark.parametrize("fields", [{"address": "=?utf-8?q?@..?=\x7f"}, {"options": {"from": "=?utf-8?q??=@%`?="}},
                                    {"options": {"cc": "=?utf-8?q?@?=é..&"}},
                                    {"options": {"reply_to": "=?utf-8?q?@?=é..&"}}])
def test_an_address_the_stdlib_cannot_write_is_refused_not_raised(tls_server, fields):
    server, ca_file = tls_server
    [outcome] = send_all(smtp_settings(server, ca_file), [channel_message(**fields)])
    assert isinstance(outcome, Permanent) and outcome.error_class == "invalid_address", outcome
    assert server.handler.sessions == 0


def test_non_ascii_subject_and_names_are_rfc2047_encoded(tls_server):
    server, ca_file = tls_server
    subject = "Ihre Rechnung für März ist fertig – Grüße aus Köln " * 3 + "😀"
    message = channel_message(subject=subject, options={"from": "Zoë Ünicode-Müller <zoe@tidings.test>"})
    [outcome] = send_all(smtp_settings(server, ca_file), [message])
    assert isinstance(outcome, Delivered), outcome
    [got] = server.received
    assert got.content.isascii()  # ASCII addresses: no SMTPUTF8, so nothing 8-bit anywhere
    for name in (b"Subject", b"From"):
        lines = header_lines(got.content, name)
        assert b"=?utf-8?" in b"".join(lines) and all(len(line) <= 78 for line in lines), lines
    assert got.email["Subject"] == subject
    assert got.email["From"].addresses[0].display_name == "Zoë Ünicode-Müller"
    assert got.email["From"].addresses[0].addr_spec == "zoe@tidings.test"


def test_long_ascii_header_values_are_folded_within_the_line_limit(tls_server):
    server, ca_file = tls_server
    subject = "Your weekly digest of everything that happened in your workspace " * 5 + "x" * 1200
    attachment = {"filename": "quarterly-report-" * 12 + ".pdf", "content_type": "application/pdf",
                  "content_base64": "aGk="}
    message = channel_message(subject=subject, options={"from": "A Very Long Display Name " * 8 + "<a@tidings.test>",
                                                        "attachments": [attachment]})
    [outcome] = send_all(smtp_settings(server, ca_file), [message])
    assert isinstance(outcome, Delivered), outcome
    [got] = server.received
    assert max(map(len, got.content.split(b"\r\n"))) <= 998
    assert len(header_lines(got.content, b"Subject")) > 1
    assert got.email["Subject"] == subject
    assert got.email["From"].addresses[0].display_name == ("A Very Long Display Name " * 8).strip()
    [part] = list(got.email.iter_attachments())
    assert part.get_filename() == attachment["filename"]


@pytest.mark.parametrize("filename", ["Rechnung März.pdf", "请求书-" * 30 + ".pdf", 'a "quoted" \\name.pdf'])
def test_attachment_file_names_round_trip(tls_server, filename):
    server, ca_file = tls_server
    attachment = {"filename": filename, "content_type": "application/pdf", "content_base64": "aGk="}
    [outcome] = send_all(smtp_settings(server, ca_file), [channel_message(options={"attachments": [attachment]})])
    assert isinstance(outcome, Delivered), outcome
    [got] = server.received
    assert got.content.isascii() and max(map(len, got.content.split(b"\r\n"))) <= 998
    [part] = list(got.email.iter_attachments())
    assert part.get_filename() == filename


@pytest.mark.parametrize("text, encoding", [
    ("Your invoice is ready.\nThanks.\n", "7bit"),
    ("Ihre Rechnung für März ist fertig.\n", "quoted-printable"),
    ("x" * 2000 + "\nshort line\n", "quoted-printable"),
    ("Ваш счёт готов. Спасибо за покупку!\n" * 3, "base64"),
    ("请求书已准备好。\n谢谢。\n", "base64"),
])
def test_a_body_goes_in_the_encoding_its_content_needs_with_crlf_lines(tls_server, text, encoding):
    server, ca_file = tls_server
    [outcome] = send_all(smtp_settings(server, ca_file), [channel_message(text=text, html=None)])
    assert isinstance(outcome, Delivered), outcome
    [got] = server.received
    assert got.content.isascii() and max(map(len, got.content.split(b"\r\n"))) <= 998
    assert b"\n" not in got.content.replace(b"\r\n", b"")  # no bare LF anywhere
    assert got.email["Content-Transfer-Encoding"] == encoding
    # Text in canonical form (RFC 2046 4.1.1): line breaks are CRLF whatever the transfer encoding.
    assert got.email.get_payload(decode=True) == text.replace("\n", "\r\n").encode()


def test_a_text_body_with_a_boundary_a_long_line_and_non_ascii_arrives_intact(tls_server):
    server, ca_file = tls_server
    text = ("Hello Zoë,\n--=_tidings_mixed\n--=_tidings_alternative--\n" + "é" * 1000 + "\n"
            + "A" * 2000 + "\nsee you --=_ later\n")
    html = "<p>Hello</p>\n--=_tidings_alternative--\n--=_tidings_mixed\n"  # ASCII: 7-bit but for the "=_"
    attachment = {"filename": "notes.txt", "content_type": "text/plain",
                  "content_base64": base64.b64encode(b"--=_tidings_mixed\r\n").decode()}
    message = channel_message(text=text, html=html, options={"attachments": [attachment]})
    [outcome] = send_all(smtp_settings(server, ca_file), [message])
    assert isinstance(outcome, Delivered), outcome
    [got] = server.received
    email = got.email
    assert email.defects == [] and all(part.defects == [] for part in email.walk())
    assert [part.get_content_type() for part in email.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html", "text/plain"]
    assert email.get_body(("plain",)).get_payload(decode=True) == text.replace("\n", "\r\n").encode()
    assert email.get_body(("html",)).get_payload(decode=True) == html.replace("\n", "\r\n").encode()
    [part] = list(email.iter_attachments())
    assert part.get_payload(decode=True) == b"--=_tidings_mixed\r\n"
    assert all(len(line) <= 998 for line in got.content.split(b"\r\n"))


@pytest.mark.parametrize("text", ["plain ASCII that mentions =_ once\n", "--=_tidings_alternative--\nbye\n"])
def test_a_7bit_body_containing_the_boundary_prefix_is_quoted_printable(tls_server, text):
    server, ca_file = tls_server
    [outcome] = send_all(smtp_settings(server, ca_file), [channel_message(text=text, html="<p>hi</p>")])
    assert isinstance(outcome, Delivered), outcome
    [got] = server.received
    plain = got.email.get_body(("plain",))
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert "=_" not in plain.get_payload()  # as sent, encoded
    assert plain.get_payload(decode=True) == text.replace("\n", "\r\n").encode()
    assert got.email.get_body(("html",)).get_payload(decode=True) == b"<p>hi</p>\r\n"


def test_every_retry_of_a_delivery_sends_the_same_bytes(tls_server):
    server, ca_file = tls_server
    delivery = str(uuid.uuid4())
    fields = dict(subject="Grüße – " * 20, text="Zoë\n" + "x" * 1500 + "\n", html="<p>Ваш счёт</p>",
                  options={"from": "Zoë <zoe@tidings.test>", "cc": ["grace@example.com"],
                           "unsubscribe_url": "https://tidings.test/u/abc",
                           "attachments": [{"filename": "Résumé.pdf", "content_type": "application/pdf",
                                            "content_base64": base64.b64encode(bytes(range(256)) * 40).decode()}]})
    settings = smtp_settings(server, ca_file)
    send_all(settings, [channel_message(delivery, **fields)])
    send_all(settings, [channel_message(delivery, attempt=2, **fields)])
    first, retry = server.received
    assert first.content == retry.content


def test_a_non_ascii_address_goes_with_smtputf8_and_utf8_headers(smtp_server, smtp_ca):
    server = smtp_server(tls="starttls", cert=smtp_ca[2], enable_SMTPUTF8=True)
    message = channel_message(address="zoë@exämple.com", subject="Grüße")
    [outcome] = send_all(smtp_settings(server, smtp_ca[1]), [message])
    assert isinstance(outcome, Delivered), outcome
    [got] = server.received
    assert got.rcpt_tos == ["zoë@exämple.com"]
    assert "To: zoë@exämple.com\r\n".encode() in got.content
    assert message_from_bytes(got.content, policy=policy.SMTPUTF8)["To"] == "zoë@exämple.com"


def test_a_non_ascii_reply_to_address_goes_with_smtputf8_not_as_encoded_words(smtp_server, smtp_ca):
    server = smtp_server(tls="starttls", cert=smtp_ca[2], enable_SMTPUTF8=True)
    [outcome] = send_all(smtp_settings(server, smtp_ca[1]), [channel_message(options={"reply_to": "zoë@exämple.com"})])
    assert isinstance(outcome, Delivered), outcome
    [got] = server.received
    assert "Reply-To: zoë@exämple.com\r\n".encode() in got.content and b"=?" not in got.content
