"""POST /v1/receipts/twilio: Twilio's message status callbacks, asked for on every send by the
twilio SMS provider (StatusCallback = TIDINGS_SMS_TWILIO_STATUS_CALLBACK). Form-encoded, signed
with X-Twilio-Signature (HMAC-SHA1, keyed with the auth token, of the URL Twilio was given followed
by the sorted parameters), checked with the twilio library's RequestValidator against that
configured URL. delivered -> delivered, undelivered and failed -> undelivered with the ErrorCode;
the statuses on the way (queued, sent, ...) are answered and not recorded."""
from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import ImmutableMultiDict

from channels.sms.settings import SmsSettings
from gateway.body_limit import BodyTooLarge, body_within
from gateway.errors import ApiError
from gateway.receipts import ingest, within_allowance
from gateway.settings import GatewaySettings
from tracking.receipts import Receipt

router = APIRouter(tags=["receipts"])

SOURCE = "twilio"
# The series the gateway exports at 0 from its start (GatewayMetrics.start_receipts).
SERIES = (SOURCE, "sms", ("delivered", "undelivered"))
# Twilio's final MessageStatus values, as receipt statuses; any other is a step on the way.
FINAL = {"delivered": "delivered", "undelivered": "undelivered", "failed": "undelivered"}
MAX_FIELDS = 100  # Twilio sends about 15 parameters

_FORM = {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "required": ["MessageSid", "MessageStatus"],
    "properties": {name: {"type": "string"} for name in ("MessageSid", "MessageStatus", "To", "From", "AccountSid",
                                                          "ErrorCode", "ErrorMessage")},
    "additionalProperties": {"type": "string"}}}}}}


def parse_form(body: bytes) -> ImmutableMultiDict:
    """The parameters as Twilio sent them (blank ones kept: they are signed too); 400 otherwise."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body),
                          max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise ApiError(400, "request body is not UTF-8") from None
    except ValueError as exc:
        raise ApiError(400, f"request body is not a form (application/x-www-form-urlencoded): {exc}") from None
    return ImmutableMultiDict(pairs)


def signed(auth_token: str, url: str, form: ImmutableMultiDict, signature: str | None) -> bool:
    """Whether X-Twilio-Signature is the one Twilio makes for this URL and these parameters."""
    from twilio.request_validator import RequestValidator  # the sms extra, imported when used

    return bool(signature) and RequestValidator(auth_token).validate(url, form, signature)


def receipt_of(form: ImmutableMultiDict, now) -> Receipt | None:
    """The receipt a final status says; None for a status on the way. ApiError(400) when a field
    Tidings needs is missing."""
    sid, status = form.get("MessageSid") or form.get("SmsSid"), form.get("MessageStatus") or form.get("SmsStatus")
    if not status:
        raise ApiError(400, "MessageStatus: required", "MessageStatus")
    if status not in FINAL:
        return None
    if not sid:
        raise ApiError(400, "MessageSid: required", "MessageSid")
    code = (form.get("ErrorCode") or "").strip() or None
    return Receipt(receipt_id=f"twilio:{sid}:{status}", source=SOURCE, channel="sms", status=FINAL[status],
                   occurred_at=now, provider_message_id=sid, address=form.get("To") or None,
                   error_code=code if FINAL[status] == "undelivered" else None,
                   detail=form.get("ErrorMessage") or (f"Twilio {status}" if status == "failed" else None))


@router.post("/v1/receipts/twilio", name="receipts.twilio", openapi_extra=_FORM,
             responses={200: {"description": "recorded, a duplicate, or a status on the way (ignored)"},
                        403: {"description": "the X-Twilio-Signature does not match: nothing recorded"},
                        404: {"description": "Twilio status callbacks are not configured"},
                        413: {"description": "body over TIDINGS_GATEWAY_RECEIPT_MAX_BODY_BYTES"},
                        429: {"description": "over TIDINGS_GATEWAY_RECEIPT_RATE_LIMIT: nothing recorded"}})
async def twilio_status(request: Request) -> JSONResponse:
    gateway, metrics = request.app.state.gateway, request.app.state.gateway.metrics
    request.state.principal = SOURCE  # the audit log's: the signature says who sent it
    sms = gateway.settings.section(SmsSettings)
    token, url = sms.sms_twilio_auth_token, sms.sms_twilio_status_callback
    if token is None or not token.get_secret_value() or not url:
        raise ApiError(404, "Twilio status callbacks are not configured here (set TIDINGS_SMS_TWILIO_AUTH_TOKEN and "
                            "TIDINGS_SMS_TWILIO_STATUS_CALLBACK)")
    try:
        form = parse_form(await body_within(request, gateway.settings.section(GatewaySettings)
                                            .gateway_receipt_max_body_bytes))
    except BodyTooLarge:
        metrics.receipt_callbacks.labels(SOURCE, "too_large").inc()
        raise
    request.state.target = f"{form.get('MessageSid', '')} {form.get('MessageStatus', '')}"[:200]
    try:
        authentic = signed(token.get_secret_value(), url, form, request.headers.get("x-twilio-signature"))
    except ImportError:
        raise ApiError(404, "Twilio status callbacks need the twilio package: pip install 'tidings[sms]'") from None
    if not authentic:
        metrics.receipt_callbacks.labels(SOURCE, "refused").inc()
        raise ApiError(403, "X-Twilio-Signature does not match this request signed for the configured "
                            "TIDINGS_SMS_TWILIO_STATUS_CALLBACK", "X-Twilio-Signature")
    receipt = receipt_of(form, gateway.clock())
    if receipt is None:
        metrics.receipt_callbacks.labels(SOURCE, "ignored").inc()
        return JSONResponse({"status": "ignored", "message_status": form.get("MessageStatus")})
    await within_allowance(gateway, SOURCE)
    counts = await ingest(gateway, [receipt])
    if counts["invalid"]:
        raise ApiError(400, "MessageSid: not an id Tidings can store (too long, or a control character)", "MessageSid")
    return JSONResponse({"status": "recorded" if counts["recorded"] else "duplicate", **counts})
