"""The SMS channel's settings (TIDINGS_SMS_*), read by its providers through
`settings.section(SmsSettings)`."""
from __future__ import annotations

from pydantic import SecretStr

from consumer.settings import Section


class SmsSettings(Section):
    # SMS: numbers normalised to E.164 (national numbers read in sms_default_region); providers tried
    # in order (twilio, sns, http), each behind a circuit breaker; USD price per segment per provider.
    sms_default_region: str = "US"
    sms_providers: str = "twilio"
    sms_prices: str = "twilio=0.0079,sns=0.00645,http=0.005"
    sms_timeout_s: float = 10.0
    sms_circuit_failures: int = 5
    sms_circuit_cooldown_s: float = 30.0
    # SMS number kinds that are sent to (phonenumbers' number types in lower case, plus
    # non_geographic: satellite and international networks); any other is refused, never sent.
    sms_allowed_number_types: str = "mobile,fixed_line,fixed_line_or_mobile"
    sms_twilio_account_sid: str | None = None
    sms_twilio_auth_token: SecretStr | None = None
    sms_twilio_from: str | None = None
    sms_twilio_messaging_service_sid: str | None = None
    sms_twilio_status_callback: str | None = None
    sms_twilio_base_url: str | None = None
    # The custom HTTP SMS provider: body is a template with JSON-escaped {to}, {text}, {id}; success
    # statuses like "2xx" or "200,202"; the message id is a dotted path into the JSON response.
    # AWS SNS (credentials from boto3's chain: environment, profile or role; never in events).
    sms_sns_region: str = "us-east-1"
    sms_sns_endpoint_url: str | None = None
    sms_sns_sender_id: str | None = None
    sms_sns_origination_number: str | None = None
    sms_sns_concurrency: int = 16
    sms_sns_opt_out_refresh_s: float = 300.0
    sms_http_url: str | None = None
    sms_http_method: str = "POST"
    sms_http_headers: SecretStr = SecretStr("{}")
    sms_http_body: str = '{"to": "{to}", "text": "{text}", "id": "{id}"}'
    sms_http_success_status: str = "2xx"
    sms_http_message_id_field: str | None = None
    # The SSRF guard of the SMS providers that speak HTTP (twilio, http; channels/outbound_http.py):
    # internal hosts/subnets their configured URLs may reach, as webhook_allowed_targets; empty =
    # public Internet addresses only.
    sms_allowed_targets: str | None = None
