"""SES notifications (the shapes of AWS's examples, kept in samples/) read into receipts: one per
recipient, bounced hard or soft by bounceType, complained, delivered; matched by mail.messageId."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from gateway.receipt_sources.report_fields import Malformed
from gateway.receipt_sources.ses import is_ses, ses_receipts

SAMPLES = Path(__file__).parent / "samples"
ARRIVED = datetime(2030, 1, 1, tzinfo=timezone.utc)


def sample(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text())


def test_a_permanent_bounce_is_a_hard_bounce_for_each_bounced_recipient():
    message = sample("ses_bounce_permanent")
    assert is_ses(message)
    receipts = ses_receipts(message, "sns-message-1", ARRIVED)
    assert [r.address for r in receipts] == ["jane@example.com", "richard@example.com"]  # not mary: she got it
    for r in receipts:
        assert (r.source, r.channel, r.status, r.bounce) == ("ses", "email", "bounced", "hard")
        assert r.provider_message_id == "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000"
        assert r.delivery_id is None and r.error_code == "General"
        assert r.detail == "5.1.1 smtp; 550 5.1.1 user unknown"
        assert r.occurred_at == datetime(2016, 1, 27, 14, 59, 38, 237000, tzinfo=timezone.utc)
    assert receipts[0].receipt_id == "ses:sns-message-1:jane@example.com"
    assert len({r.receipt_id for r in receipts}) == 2


@pytest.mark.parametrize("name, subtype", [("ses_bounce_transient", "MailboxFull"),
                                           ("ses_bounce_undetermined", "Undetermined")])
def test_transient_and_undetermined_bounces_are_soft(name, subtype):
    [receipt] = ses_receipts(sample(name), "m", ARRIVED)
    assert (receipt.status, receipt.bounce, receipt.error_code) == ("bounced", "soft", subtype)


def test_a_display_name_in_a_bounced_address_is_dropped():
    [receipt] = ses_receipts(sample("ses_bounce_transient"), "m", ARRIVED)
    assert receipt.address == "full@example.com"


def test_a_complaint_and_a_delivery():
    [complaint] = ses_receipts(sample("ses_complaint"), "m1", ARRIVED)
    assert (complaint.status, complaint.bounce, complaint.address, complaint.error_code) == (
        "complained", None, "richard@example.com", "abuse")
    assert complaint.provider_message_id == "000001378603177f-7a5433e7-8edb-42ae-af10-f0181f34d6ee-000000"
    [delivery] = ses_receipts(sample("ses_delivery"), "m2", ARRIVED)
    assert (delivery.status, delivery.address, delivery.detail) == (
        "delivered", "jane@example.com", "250 ok: Message 64111812 accepted")


def test_a_configuration_sets_event_is_read_like_a_notification_and_other_events_are_not_receipts():
    [receipt] = ses_receipts(sample("ses_event_bounce"), "m", ARRIVED)
    assert (receipt.bounce, receipt.error_code) == ("hard", "OnAccountSuppressionList")
    assert ses_receipts(sample("ses_event_send"), "m", ARRIVED) == []


@pytest.mark.parametrize("change, field", [
    (lambda m: m["mail"].pop("messageId"), "mail.messageId"),
    (lambda m: m.pop("bounce"), "bounce"),
    (lambda m: m["bounce"].update(bouncedRecipients=[]), "bouncedRecipients"),
    (lambda m: m["bounce"].update(bouncedRecipients=[{"emailAddress": 5}]), "bouncedRecipients"),
    (lambda m: m["bounce"].update(bouncedRecipients=[{"emailAddress": "a\x00@example.com"}]), "bouncedRecipients"),
])
def test_a_notification_without_what_its_type_carries_is_malformed(change, field):
    message = sample("ses_bounce_permanent")
    change(message)
    with pytest.raises(Malformed, match=f"^{field}"):
        ses_receipts(message, "m", ARRIVED)
