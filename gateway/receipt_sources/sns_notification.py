"""SNS HTTP(S) messages, step three: what a verified Notification carries, read by the source that
sends it (SES's bounce, complaint and delivery notifications; SNS's SMS delivery status). Anything
else on an allowed topic is not a receipt and is left alone."""
from __future__ import annotations

import json
from datetime import datetime

from gateway.receipt_sources.report_fields import Malformed
from gateway.receipt_sources.ses import is_ses, ses_receipts
from gateway.receipt_sources.sns_envelope import SnsEnvelope
from gateway.receipt_sources.sns_sms import is_sms_status, sms_receipts
from tracking.receipts import Receipt


def notification_receipts(envelope: SnsEnvelope, arrived: datetime) -> list[Receipt]:
    try:
        message = json.loads(envelope.message)
    except (ValueError, RecursionError):
        raise Malformed("Message: not JSON (expected an SES notification or an SMS delivery status)") from None
    if not isinstance(message, dict):
        return []
    if is_ses(message):
        return ses_receipts(message, envelope.message_id, arrived)
    if is_sms_status(message):
        return sms_receipts(message, arrived)
    return []
