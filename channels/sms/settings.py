"""The SMS channel's settings (TIDINGS_SMS_*), read by its providers through
`settings.section(SmsSettings)`."""
from __future__ import annotations

from pydantic import Field, SecretStr

from consumer.settings import Section


class SmsSettings(Section):
    sms_default_region: str = Field("US", description="region for national-format numbers (E.164 is what is "
                                                      "sent)")
    sms_providers: str = Field("twilio", description=(
        "ordered failover list: `twilio`, `sns`, `http`; each behind its own circuit breaker"))
    sms_prices: str = Field("twilio=0.0079,sns=0.00645,http=0.005", description="USD per segment, per provider")
    sms_timeout_s: float = Field(10.0, description="timeout of one request to any SMS provider")
    sms_circuit_failures: int = Field(5, description=(
        "consecutive failures that open a provider's circuit breaker; while it is open, sends go to the next "
        "provider"))
    sms_circuit_cooldown_s: float = Field(30.0, description=(
        "how long an open breaker refuses; then one send probes the provider while the others go to the next "
        "one"))
    # SMS pumping fraud is paid through premium-rate and non-geographic numbers: refused, never sent.
    sms_allowed_number_types: str = Field("mobile,fixed_line,fixed_line_or_mobile", description=(
        "the kinds of number sent to: `phonenumbers` number types in lower case (`mobile`, `fixed_line`, "
        "`fixed_line_or_mobile` (what it says for US and Canadian numbers), `toll_free`, `premium_rate`, "
        "`shared_cost`, `voip`, `personal_number`, `pager`, `uan`, `voicemail`) and `non_geographic` (satellite "
        "and international networks)"))
    sms_twilio_account_sid: str | None = Field(None, description="the Twilio account SID")
    sms_twilio_auth_token: SecretStr | None = Field(None, description=(
        "the Twilio auth token (the gateway checks status callbacks' signatures with it too); never logged"))
    sms_twilio_from: str | None = Field(None, description="the sender number (or set "
                                                          "`TIDINGS_SMS_TWILIO_MESSAGING_SERVICE_SID`)")
    sms_twilio_messaging_service_sid: str | None = Field(None, description="the sender as a Twilio messaging "
                                                                           "service, instead of a number")
    sms_twilio_status_callback: str | None = Field(None, description=(
        "the public URL of the gateway's `POST /v1/receipts/twilio`, e.g. `https://tidings.example.com/v1/receipts/"
        "twilio`: sent as `StatusCallback` with every message, so Twilio reports delivered and undelivered; set the "
        "same value on the gateway, which checks `X-Twilio-Signature` against exactly this URL (see "
        "[Receipts](receipts.md))"))
    sms_twilio_base_url: str | None = Field(None, description=(
        "another Twilio API host (a regional edge, a proxy, or a fake in tests); unset: "
        "`https://api.twilio.com`"))
    # AWS SNS: credentials come from boto3's chain (environment, profile or role), never from events.
    sms_sns_region: str = Field("us-east-1", description="the SNS region")
    sms_sns_endpoint_url: str | None = Field(None, description="another SNS endpoint (a VPC endpoint, or moto in "
                                                               "the tests)")
    sms_sns_sender_id: str | None = Field(None, description="`AWS.SNS.SMS.SenderID`")
    sms_sns_origination_number: str | None = Field(None, description="`AWS.MM.SMS.OriginationNumber`")
    sms_sns_concurrency: int = Field(16, description="concurrent `Publish` calls (boto3 runs in a thread pool)")
    sms_sns_opt_out_refresh_s: float = Field(300.0, description="how often the account's opted-out list is "
                                                                "re-read")
    # The custom HTTP SMS provider, configured entirely from these.
    sms_http_url: str | None = Field(None, description="the custom provider's URL")
    sms_http_method: str = Field("POST", description="the custom provider's HTTP method")
    sms_http_headers: SecretStr = Field(SecretStr("{}"), description=(
        "the custom provider's request headers, a JSON object (often credentials: never logged)"))
    sms_http_body: str = Field('{"to": "{to}", "text": "{text}", "id": "{id}"}', description=(
        "the custom provider's body template: `{to}`, `{text}` and `{id}` are replaced, JSON-escaped"))
    sms_http_success_status: str = Field("2xx", description=(
        "the statuses that count as success, like `2xx` or `200,202` (redirects are never followed: a 3xx is "
        "`redirect_refused`)"))
    sms_http_message_id_field: str | None = Field(None, description="the dotted path of the message id in the "
                                                                    "JSON answer")
    sms_allowed_targets: str | None = Field(None, description=(
        "like `TIDINGS_WEBHOOK_ALLOWED_TARGETS`, for the URLs of the `twilio` and `http` providers (an internal "
        "SMS gateway or proxy must be listed); unset: public addresses only"))
