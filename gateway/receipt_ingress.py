"""POST /v1/receipts/sns and POST /v1/receipts/dsn: the way in for the receipt sources of
gateway/receipt_sources/. Each reads its body up to a cap, turns it into receipts and hands them to
gateway/receipts.py, which matches and records them.

SNS posts without a token: its signature is the authentication (bad: 403, nothing recorded). A bounce
report comes from the operator's mail server (a pipe or a forwarder) with a token holding `receipts`."""
from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from channels.email.settings import EmailSettings
from consumer.text_rules import json_flaw
from gateway import receipts
from gateway.auth import Principal
from gateway.errors import ApiError
from gateway.receipt_sources.dsn import DeliveryNames, dsn_receipts
from gateway.receipt_sources.report_fields import Malformed
from gateway.receipt_sources.sns_envelope import read_envelope
from gateway.receipt_sources.sns_notification import notification_receipts
from gateway.request_body import parse_json
from gateway.scopes import RECEIPTS, requires

log = logging.getLogger(__name__)
router = APIRouter(tags=["receipts"])

# An SNS message carries up to 256 KiB, which JSON escaping inside the envelope can grow by a fifth
# or so; a bounce report carries the returned headers (or the message: capped, the rest is not needed).
MAX_SNS_BYTES = 512 * 1024
MAX_DSN_BYTES = 1024 * 1024
RAW_MESSAGE_TYPES = ("message/rfc822", "application/octet-stream")
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_SNS_BODY = {"requestBody": {"required": True, "description": (
    "an SNS HTTP(S) message as SNS posts it (JSON, sent as text/plain): a SubscriptionConfirmation, an "
    "UnsubscribeConfirmation or a Notification carrying an SES notification or an SMS delivery status"),
    "content": {"text/plain": {"schema": {"type": "string"}}, "application/json": {"schema": {"type": "object"}}}}}
_DSN_BODY = {"requestBody": {"required": True, "description": (
    "an RFC 3464 bounce report: the whole message as received (message/rfc822), or its multipart/report body "
    "with the report's Content-Type (boundary included)"),
    "content": {"message/rfc822": _BINARY, "multipart/report": _BINARY, "application/octet-stream": _BINARY}}}
_ANSWER = {"content": {"application/json": {"schema": {"type": "object", "properties": {
    "receipts": {"type": "integer", "description": "receipts read from the report"}}}}}}


async def capped_body(request: Request, max_bytes: int) -> bytes:
    """The body, or 413 once it passes `max_bytes` (declared or counted)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, f"request body larger than {max_bytes} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, f"request body larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


# Each source's receipt series, at 0 from the start (gateway/app.py).
SERIES = (("sns", "sms", ("delivered", "undelivered")),
          ("ses", "email", ("delivered", "bounced", "complained")),
          ("dsn", "email", ("delivered", "bounced")))


@router.post("/v1/receipts/sns", name="receipts.sns", openapi_extra=_SNS_BODY,
             responses={200: _ANSWER, 403: {"description": "not SNS's: the topic is not allowed, the certificate "
                                                           "URL is not AWS's, or the signature does not verify"},
                        502: {"description": "the subscription could not be confirmed (SNS retries)"},
                        503: {"description": "the signing certificate could not be fetched (SNS retries)"}})
async def sns_message(request: Request) -> JSONResponse:
    """An SNS HTTP(S) message: verified, then a subscription confirmed or a notification's receipts
    recorded. No token: the message's signature authenticates it."""
    gateway = request.app.state.gateway
    body = await capped_body(request, MAX_SNS_BYTES)
    value = parse_json(body)
    try:
        if (problem := json_flaw(value, "")) is not None:
            raise Malformed(problem)
        envelope = read_envelope(value)
    except Malformed as exc:
        raise ApiError(400, str(exc)) from None
    request.state.principal = f"sns:{envelope.topic_arn[:200]}"
    request.state.target = envelope.message_id[:200]
    if refusal := await gateway.sns.refusal(envelope):
        raise ApiError(refusal.status, refusal.reason)
    if envelope.type == "SubscriptionConfirmation":
        if refusal := await gateway.sns.confirm_subscription(envelope):
            raise ApiError(refusal.status, refusal.reason)
        log.info("confirmed the SNS subscription to %s", envelope.topic_arn)
        return JSONResponse({"type": envelope.type, "confirmed": True, "receipts": 0})
    if envelope.type == "UnsubscribeConfirmation":
        # Unsubscribed by someone with the topic's keys: nothing to do here (its SubscribeURL would undo it).
        log.warning("SNS unsubscribed this gateway from %s", envelope.topic_arn)
        return JSONResponse({"type": envelope.type, "receipts": 0})
    try:
        found = notification_receipts(envelope, gateway.clock())
    except Malformed as exc:
        raise ApiError(400, str(exc)) from None
    if found:  # after the signature: a forger cannot use up the allowance
        await receipts.within_allowance(gateway, "sns")
    recorded = await receipts.ingest(gateway, found) if found else {}
    return JSONResponse({"type": envelope.type, "receipts": len(found), **recorded})


@router.post("/v1/receipts/dsn", name="receipts.dsn", openapi_extra=_DSN_BODY,
             responses={200: _ANSWER, 415: {"description": "not message/rfc822 or multipart/report"}})
async def bounce_report(request: Request,
                        recipient: str | None = Query(None, min_length=1, max_length=512, description=(
                            "the envelope recipient the report was delivered to (a pipe's ${original_recipient}), "
                            "when the message's own headers may not say it")),
                        _principal: Principal = Depends(requires(RECEIPTS, every_tenant=True))) -> JSONResponse:
    """A delivery status notification (RFC 3464) from the bounce mailbox: its final recipients'
    receipts (`failed`: a hard or soft bounce, `delivered`), matched to the delivery its return path names."""
    gateway = request.app.state.gateway
    content_type = request.headers.get("content-type", "")
    media = content_type.partition(";")[0].strip().lower()
    if media not in (*RAW_MESSAGE_TYPES, "multipart/report"):
        raise ApiError(415, "expected the report as message/rfc822 (the whole message) or multipart/report")
    body = await capped_body(request, MAX_DSN_BYTES)
    if not body.strip():
        raise ApiError(400, "request body is empty; expected a bounce report")
    if media == "multipart/report":
        # The body is the report's MIME body: its Content-Type (the boundary) came as the request's.
        body = f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n".encode("latin-1") + body
    email = gateway.settings.section(EmailSettings)
    names = DeliveryNames(email.smtp_bounce_address or None, email.smtp_message_id_domain)
    if recipient is not None:
        # A pipe that puts bounces+<id>@... into the query unencoded sends its + as a space; an
        # address holds no space.
        recipient = recipient.replace(" ", "+")
    try:
        report = dsn_receipts(body, names, gateway.clock(), recipient)
    except Malformed as exc:
        raise ApiError(400, str(exc)) from None
    request.state.target = ", ".join(sorted({r.delivery_id or r.provider_message_id for r in report.receipts}))[:200]
    if report.receipts:  # a mail loop or a bounce storm must not flood the delivery log
        await receipts.within_allowance(gateway, "dsn")
    recorded = await receipts.ingest(gateway, report.receipts) if report.receipts else {}
    return JSONResponse({"receipts": len(report.receipts), "unmatched": report.unmatched, **recorded})
