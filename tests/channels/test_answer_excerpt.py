"""What a delivery keeps of a receiver's or provider's answer: a short excerpt with every configured
secret redacted and control characters replaced, for every channel that stores one (webhook, Slack,
SMS over HTTP and Twilio), against real servers on loopback that echo what they were sent."""
from __future__ import annotations

import asyncio
import base64
import json

import pytest
from aiohttp import web
from yarl import URL

from channels.answer_excerpt import LIMIT, REDACTED, AnswerExcerpt
from channels.sms.http_provider import HttpSms
from channels.sms.twilio_provider import TwilioSms
from channels.webhook.signing import WebhookSigner
from consumer.outcomes import Permanent, Transient
from consumer.settings import Settings, known_sections
from tests.channels.test_slack import message as slack_message, send_all, settings_for
from tests.channels.test_sms import Gateway, message as sms_message, send_with, twilio_settings
from tests.channels.test_webhook_provider import Receiver, message as webhook_message, provider, serving
from tests.fixtures.slack import TOKEN
from tests.fixtures.twilio import AUTH_TOKEN

PEM = ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7fcm\n"
       "Xn3n0v1zOZ9Q2c1b0oMSP2lQ0Zz8kT4fs1yZrA9xqL3w5e7tY8pF\n-----END PRIVATE KEY-----\n")
APNS_PEM = ("-----BEGIN PRIVATE KEY-----\nMIGTAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBHkwdwIBAQQg\n"
            "apns0SecretKeyMaterial0123456789abcdefABCDEF\n-----END PRIVATE KEY-----\n")
MASTER = "whsec_" + base64.b64encode(b"master-signing-key-0123456789").decode()
# One value for every secret setting (the fields declared repr=False), in the shapes they take.
SECRETS = {
    "webhook_signing_secrets": f"{MASTER}, whsec_" + base64.b64encode(b"older-master-key-98765").decode(),
    "webhook_endpoint_secrets": json.dumps({"https://a.example/": ["whsec_" + base64.b64encode(b"endpoint-key-a").decode()]}),
    "webhook_credentials": json.dumps({"ops": {"type": "bearer", "token": "bearer-t0ken-ops", "hosts": ["127.0.0.1"]},
                                       "legacy": {"type": "basic", "username": "svc", "password": "basic-pa55word",
                                                  "hosts": ["127.0.0.1"]}}),
    "smtp_password": "smtp-pa55word",
    "slack_bot_token": "xoxb-0000-slack-bot-token",
    "sms_twilio_auth_token": "twilio-auth-token-0000",
    "sms_http_headers": json.dumps({"Authorization": "Bearer sms-gateway-key", "X-Api-Key": "sms-api-key-0000"}),
    "gateway_jwt_secret": "gateway-jwt-secret-0000",
    "gateway_static_tokens": json.dumps({"alertmanager-static-token": {"subject": "am", "scopes": ["send:slack"]}}),
    "gateway_unsubscribe_secret": "unsubscribe-secret-0000",
    "telegram_bot_token": "123456789:AAH-telegram-bot-secret_0000",
    "push_fcm_service_account": json.dumps({"type": "service_account", "private_key_id": "fcm-key-id-0123456789abcdef",
                                            "private_key": PEM, "client_email": "tidings@example.iam.gserviceaccount.com",
                                            "token_uri": "https://oauth2.googleapis.com/token"}),
    "push_apns_key": APNS_PEM,
    "inapp_tenant_keys": json.dumps({"acme": "acme-inbox-feed-key-0123456789abcdef"}),
}
# What an answer could echo of them.
ECHOED = {
    "webhook_signing_secrets": [MASTER, MASTER.removeprefix("whsec_")],
    "webhook_endpoint_secrets": [base64.b64encode(b"endpoint-key-a").decode()],
    "webhook_credentials": ["Bearer bearer-t0ken-ops", base64.b64encode(b"svc:basic-pa55word").decode(),
                            "basic-pa55word"],
    "smtp_password": ["smtp-pa55word"],
    "slack_bot_token": ["Authorization: Bearer xoxb-0000-slack-bot-token"],
    "sms_twilio_auth_token": ["twilio-auth-token-0000"],
    "sms_http_headers": ["Bearer sms-gateway-key", "sms-gateway-key", "sms-api-key-0000"],
    "gateway_jwt_secret": ["gateway-jwt-secret-0000"],
    "gateway_static_tokens": ["alertmanager-static-token"],
    "gateway_unsubscribe_secret": ["unsubscribe-secret-0000"],
    "telegram_bot_token": ["POST /bot123456789:AAH-telegram-bot-secret_0000/sendMessage"],
    "push_fcm_service_account": ["fcm-key-id-0123456789abcdef", PEM.splitlines()[1], PEM],
    "push_apns_key": [APNS_PEM.splitlines()[2], APNS_PEM],
    "inapp_tenant_keys": ["acme-inbox-feed-key-0123456789abcdef"],
}


def test_every_secret_setting_is_known_here():
    """A new secret setting (SecretStr, in any owner's model) must be added above, so that its
    redaction is tested."""
    import gateway.settings  # noqa: F401 - the gateway's model, known once loaded

    secret = {name for model in known_sections() for name, field in model.model_fields.items()
              if "SecretStr" in str(field.annotation)}
    assert secret == SECRETS.keys() == ECHOED.keys()


@pytest.mark.parametrize("setting", sorted(ECHOED))
def test_every_configured_secret_is_redacted_in_every_echoed_form(setting):
    excerpt = AnswerExcerpt.from_settings(Settings(**{setting: SECRETS[setting]}), limit=10_000)
    for echoed in ECHOED[setting]:
        text = excerpt(f"bad request; you sent {echoed} and that is wrong")
        assert echoed.split()[-1] not in text and REDACTED in text, (setting, echoed, text)
    assert SECRETS[setting] not in repr(excerpt)


def test_short_cleaned_and_cut_after_redaction():
    excerpt = AnswerExcerpt(["s3cret-value"])
    text = excerpt("x" * (LIMIT - 5) + "s3cret-value" + "\x00tail")
    assert len(text) == LIMIT and text.endswith("…") and "s3cret" not in text
    cleaned = excerpt("line one\r\n\tline\x0btwo\x00nul\x1b[31mred\u202eevil\x85end")
    assert cleaned == "line one line two\ufffdnul\ufffd[31mred\ufffdevil end"
    assert excerpt(None) == "" and excerpt(b"\xff\xfe") == "\ufffd\ufffd"
    assert excerpt("token abcd", "abcd") == f"token {REDACTED}"  # a secret only the caller knows


def test_a_short_secret_does_not_blank_out_words():
    assert AnswerExcerpt(["abc"])("abc abcd") == "abc abcd"


# -- through each channel's provider ---------------------------------------------------------------

def echoing(status: int):
    """A receiver answer that echoes the request's headers and adds a NUL and some bulk."""
    def answer(request):
        echoed = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
        return web.Response(status=status, text=f"rejected\x00 {echoed}\n" + "padding " * 2000)
    return answer


def test_webhook_answers_keep_no_credential_signing_secret_or_nul():
    async def scenario():
        receiver = Receiver()
        receiver.answer = echoing(400)
        async with serving(receiver) as base, provider(webhook_credentials=SECRETS["webhook_credentials"],
                                                        webhook_signing_secrets=MASTER) as p:
            outcome = await p.send(webhook_message(f"{base}/hook", options={"credential": "ops"}))
        return outcome, receiver.requests

    outcome, requests = asyncio.run(scenario())
    assert requests[0]["headers"]["Authorization"] == "Bearer bearer-t0ken-ops"  # it was sent, and echoed
    assert isinstance(outcome, Permanent) and outcome.error_class == "http_400"
    assert outcome.message.startswith("rejected\ufffd ") and len(outcome.message) <= LIMIT
    assert "bearer-t0ken-ops" not in outcome.message and "Authorization: Bearer [redacted]" in outcome.message
    assert "\x00" not in outcome.message and "\n" not in outcome.message


def test_webhook_answers_redact_the_endpoints_own_derived_secret():
    async def scenario():
        receiver = Receiver()
        async with serving(receiver) as base, provider(webhook_signing_secrets=MASTER) as p:
            secret = WebhookSigner.from_settings(MASTER).secrets_for(URL(f"{base}/hook"))[0]
            receiver.answer = lambda request: web.Response(status=503, text=f"is your secret {secret}?")
            return await p.send(webhook_message(f"{base}/hook")), secret

    outcome, secret = asyncio.run(scenario())
    assert isinstance(outcome, Transient) and secret not in outcome.message and REDACTED in outcome.message


def test_slack_answers_keep_no_token_or_nul(fake_slack):
    settings = settings_for(fake_slack, smtp_password="smtp-pa55word")
    fake_slack.answer_next(400, f"oops {TOKEN} smtp-pa55word\x00" + "x" * 5000)  # webhook: plain text
    fake_slack.answer_next(502, f"<html>{TOKEN}\x00</html>" + "y" * 5000)  # Web API: not JSON
    fake_slack.answer_next(200, f"not json {TOKEN}\x00")
    fake_slack.answer_next(200, {"ok": False, "error": "bad\x00code"})
    hook, api, bad_json, bad_code = send_all(settings, [slack_message(fake_slack.webhook_url()), slack_message("C0001"),
                                                        slack_message("C0001"), slack_message("C0001")])
    for outcome in (hook, api, bad_json):
        assert TOKEN not in outcome.message and "smtp-pa55word" not in outcome.message
        assert "\x00" not in outcome.message and len(outcome.message) <= LIMIT + 30, outcome
    assert (hook.error_class, api.error_class, bad_json.error_class) == ("http_400", "http_502", "slack_bad_response")
    assert isinstance(bad_code, Permanent) and bad_code.error_class == "slack_unknown_error"


def test_sms_http_answers_keep_no_gateway_key():
    async def run():
        async with Gateway() as gateway:
            gateway.script.append((401, "invalid key Bearer gw-secret\x00 for account"))
            settings = Settings(sms_providers="http", sms_http_url=gateway.url, sms_allowed_targets="127.0.0.1",
                                sms_http_headers='{"Authorization": "Bearer gw-secret"}')
            return await send_with(HttpSms(settings), sms_message())

    outcome = asyncio.run(run())
    assert isinstance(outcome, Permanent) and outcome.message == f"invalid key {REDACTED}\ufffd for account"


def test_twilio_answers_keep_no_auth_token(fake_twilio):
    fake_twilio.error_next(21211, f"Invalid 'To' for account token {AUTH_TOKEN}\x00")
    outcome = asyncio.run(send_with(TwilioSms(twilio_settings(fake_twilio)), sms_message()))
    assert isinstance(outcome, Permanent) and outcome.error_class == "invalid_phone_number"
    assert AUTH_TOKEN not in outcome.message and REDACTED in outcome.message and "\x00" not in outcome.message
