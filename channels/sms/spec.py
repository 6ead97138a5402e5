"""The SMS channel's declaration for the registry (consumer/channel_specs.py): a phone number in
E.164 (the one phone rule, channels/sms/numbers.py), one text part."""
from __future__ import annotations

from channels.sms.options import SmsOptions
from channels.sms.settings import SmsSettings
from consumer.channel_specs import AddressInvalid, ChannelSpec, Failure, TemplatePart


def check_address(address: str) -> str:
    """A valid number in international form, returned in E.164. Which kinds of number may be sent
    to (TIDINGS_SMS_ALLOWED_NUMBER_TYPES) is the worker's decision at send time, not the address's."""
    from channels.sms.numbers import ALL_KINDS, to_e164
    from consumer.outcomes import Permanent

    if not address.strip().startswith("+"):
        raise AddressInvalid(f"{address[:40]!r}: give the number in international form, +<country code>...")
    if isinstance(number := to_e164(address, allowed=ALL_KINDS), Permanent):
        raise AddressInvalid(number.message)
    return number


SPEC = ChannelSpec(
    name="sms",
    summary="SMS through Twilio, AWS SNS or a custom HTTP provider, with failover, segments and cost",
    address="a phone number in E.164 (+14155550100)",
    check_address=check_address,
    legacy_address_field="phone",
    parts=(TemplatePart("text", "one_line"),),
    options=SmsOptions,
    settings=SmsSettings,
    provider="channels.sms.provider:SmsProvider",
    providers=("twilio", "sns", "http"),
    failures=(
        Failure("invalid_phone_number", "permanent", "not a valid phone number"),
        Failure("number_type_refused", "permanent", "a number type not in sms_allowed_number_types"),
        Failure("empty_message", "permanent", "no text"),
        Failure("message_too_long", "permanent", "over the segment limit"),
        Failure("opted_out", "suppressed", "the recipient replied STOP"),
        Failure("unreachable_number", "permanent", "Twilio: not reachable by SMS from this sender"),
        Failure("not_mobile_number", "permanent", "Twilio: not a mobile number"),
        Failure("twilio_<code>", "permanent", "another Twilio error code"),
        Failure("invalid_parameter", "permanent", "SNS refused a parameter"),
        Failure("sns_<code>", "permanent", "another SNS error code"),
        Failure("rate_limited", "transient", "Twilio or SNS throttled"),
        Failure("circuit_open", "transient", "every provider's circuit breaker is open"),
        Failure("http_<status>", "transient", "408, 425, 429 or 5xx"),
        Failure("http_<status>", "permanent", "another status (or a 2xx outside the success list)"),
        Failure("<botocore error>", "transient", "SNS could not be reached"),
    ),
    http_kit=True,
    receipts=True,  # carriers' delivery reports (Twilio status callbacks, SNS delivery status)
    # docker-compose.yml: it sends nothing without a provider's credentials, so it waits behind a profile.
    compose_profile="sms",
    compose_environment={"TIDINGS_SMS_PROVIDERS": "twilio",
                         "TIDINGS_SMS_TWILIO_ACCOUNT_SID": "${TIDINGS_SMS_TWILIO_ACCOUNT_SID:-}",
                         "TIDINGS_SMS_TWILIO_AUTH_TOKEN": "${TIDINGS_SMS_TWILIO_AUTH_TOKEN:-}",
                         "TIDINGS_SMS_TWILIO_FROM": "${TIDINGS_SMS_TWILIO_FROM:-}"},
)
