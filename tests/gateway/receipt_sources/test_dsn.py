"""RFC 3464 bounce reports (real multipart/report messages made with the email package, about
messages the email channel composed) read into receipts: failed 5.x.x hard, 4.x.x soft, delivered;
delayed left out; the delivery named by the VERP return path, else by the returned Message-ID."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from hypothesis import given, settings, strategies as st

from channels.email.message import Composition, compose
from gateway.receipt_sources.dsn import DeliveryNames, dsn_receipts
from gateway.receipt_sources.report_fields import Malformed
from tests.fixtures.dsn import bounce_report, recipient

BOUNCES = "bounces@example.com"
NAMES = DeliveryNames(BOUNCES, "tidings.test")
ARRIVED = datetime(2030, 1, 1, tzinfo=timezone.utc)


def sent(delivery_id: str | None = None, bounce_address: str | None = BOUNCES):
    """(delivery id, the envelope the email channel sends) for one message to ada@example.org."""
    delivery_id = delivery_id or str(uuid.uuid4())
    message = {"delivery_id": delivery_id, "address": "ada@example.org", "subject": "Your invoice",
               "text": "Hello", "options": "{}"}
    return delivery_id, compose(message, Composition("Tidings <noreply@example.com>", "tidings.test",
                                                     bounce_address=bounce_address))


def test_a_permanent_failure_is_a_hard_bounce_of_the_delivery_its_return_path_names():
    delivery_id, envelope = sent()
    assert envelope.sender == f"bounces+{delivery_id}@example.com"
    report = dsn_receipts(bounce_report(envelope.content, envelope.sender, [recipient("ada@example.org")]),
                          NAMES, ARRIVED)
    [receipt] = report.receipts
    assert report.unmatched == 0
    assert (receipt.source, receipt.channel, receipt.status, receipt.bounce) == ("dsn", "email", "bounced", "hard")
    assert (receipt.delivery_id, receipt.provider_message_id) == (delivery_id, None)
    assert (receipt.address, receipt.error_code) == ("ada@example.org", "5.1.1")
    assert receipt.detail == "smtp; 550 5.1.1 <ada@example.org>: Recipient address rejected: User unknown"
    assert receipt.occurred_at == datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)  # Arrival-Date


@pytest.mark.parametrize("action, status, expected", [
    ("failed", "4.2.2", ("bounced", "soft", "4.2.2")),          # a server that gave up retrying a full mailbox
    ("failed", "5.7.1 (rejected by policy)", ("bounced", "hard", "5.7.1")),
    ("failed", "", ("bounced", "hard", None)),
    ("delivered", "2.0.0", ("delivered", None, "2.0.0")),
    ("delayed", "4.4.1", None), ("relayed", "2.0.0", None), ("expanded", "2.0.0", None)])
def test_each_action_and_status_class(action, status, expected):
    _, envelope = sent()
    report = dsn_receipts(bounce_report(envelope.content, envelope.sender,
                                        [recipient("ada@example.org", action, status)]), NAMES, ARRIVED)
    got = [(r.status, r.bounce, r.error_code) for r in report.receipts]
    assert got == ([expected] if expected else [])


def test_one_report_about_several_recipients():
    _, envelope = sent()
    raw = bounce_report(envelope.content, envelope.sender, [
        recipient("ada@example.org"), recipient("bob@example.org", "delayed", "4.4.1", None),
        recipient("cy@example.org", "failed", "4.2.2", original=False)])
    receipts = dsn_receipts(raw, NAMES, ARRIVED).receipts
    assert [(r.address, r.bounce) for r in receipts] == [("ada@example.org", "hard"), ("cy@example.org", "soft")]
    # The same report posted again has the same receipt ids; another report other ones.
    assert [r.receipt_id for r in dsn_receipts(raw, NAMES, ARRIVED).receipts] == [r.receipt_id for r in receipts]
    again = bounce_report(envelope.content, envelope.sender, [recipient("ada@example.org")])
    assert dsn_receipts(again, NAMES, ARRIVED).receipts[0].receipt_id != receipts[0].receipt_id


def test_the_envelope_recipient_names_the_delivery_when_the_headers_do_not():
    delivery_id, envelope = sent()
    raw = bounce_report(envelope.content, "postmaster@example.com", [recipient("ada@example.org")])
    blind = DeliveryNames(BOUNCES, "elsewhere.test")  # the Message-ID is not taken for one of ours either
    [receipt] = dsn_receipts(raw, blind, ARRIVED).receipts
    assert (receipt.delivery_id, receipt.provider_message_id) == (None, f"<{delivery_id}@tidings.test>")
    [receipt] = dsn_receipts(raw, blind, ARRIVED, envelope_recipient=envelope.sender.upper()).receipts
    assert (receipt.delivery_id, receipt.provider_message_id) == (delivery_id, None)


def test_a_report_that_names_no_message_counts_its_recipients_as_unmatched():
    returned = b"From: someone@example.com\r\nTo: ada@example.org\r\nSubject: hi\r\n\r\nbody\r\n"
    raw = bounce_report(returned, "someone@example.com", [recipient("ada@example.org"), recipient("bob@example.org"),
                                                          recipient("cy@example.org", "delayed", "4.4.1")])
    report = dsn_receipts(raw, NAMES, ARRIVED)
    assert (report.receipts, report.unmatched) == ([], 2)


def test_a_report_forwarded_inside_another_message_is_read():
    delivery_id, envelope = sent()
    forward = EmailMessage()
    forward["From"], forward["To"], forward["Subject"] = "postmaster@example.com", "ops@example.com", "Fwd: bounce"
    forward.set_content("see attached")
    forward.add_attachment(message_from_bytes(bounce_report(envelope.content, envelope.sender,
                                                            [recipient("ada@example.org")]), policy=policy.default))
    [receipt] = dsn_receipts(forward.as_bytes(), NAMES, ARRIVED).receipts
    assert receipt.delivery_id == delivery_id


def test_without_a_return_path_the_returned_message_id_names_the_delivery():
    delivery_id, envelope = sent(bounce_address=None)
    assert envelope.sender == "noreply@example.com"
    for returned_whole in (False, True):
        raw = bounce_report(envelope.content, envelope.sender, [recipient("ada@example.org")],
                            as_message_rfc822=returned_whole)
        [receipt] = dsn_receipts(raw, DeliveryNames(None, "tidings.test"), ARRIVED).receipts
        assert (receipt.delivery_id, receipt.provider_message_id) == (delivery_id, None)
    # Another sender's Message-ID is kept as the provider message id to match on.
    [receipt] = dsn_receipts(raw, DeliveryNames(None, "elsewhere.test"), ARRIVED).receipts
    assert (receipt.delivery_id, receipt.provider_message_id) == (None, f"<{delivery_id}@tidings.test>")


@pytest.mark.parametrize("raw", [
    b"From: someone@example.com\r\nSubject: out of office\r\n\r\nI am away.\r\n",
    b"Content-Type: multipart/report; report-type=feedback-report; boundary=x\r\n\r\n--x\r\n"
    b"Content-Type: text/plain\r\n\r\nabuse\r\n--x--\r\n",
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\n"
    b"Content-Type: text/plain\r\n\r\nno status part\r\n--x--\r\n",
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\n"
    b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n--x--\r\n",
    b"\xff\xfe\x00garbage",
])
def test_what_is_not_a_delivery_status_notification_is_malformed(raw):
    with pytest.raises(Malformed):
        dsn_receipts(raw, NAMES, ARRIVED)


_, _ENVELOPE = sent(str(uuid.UUID(int=1)))
_REPORT = bounce_report(_ENVELOPE.content, _ENVELOPE.sender, [recipient("ada@example.org")])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_REPORT)), st.binary(max_size=40)), max_size=4))
def test_a_damaged_report_is_read_or_refused_as_malformed_never_raised(damage):
    raw = _REPORT
    for position, junk in damage:
        raw = raw[:position] + junk + raw[position + len(junk):]
    try:
        report = dsn_receipts(raw, NAMES, ARRIVED)
    except Malformed:
        return
    assert all(r.source == "dsn" for r in report.receipts)
