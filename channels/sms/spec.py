"""The SMS channel's declaration for the registry (consumer/channel_specs.py): a phone number in
E.164 (the one phone rule, channels/sms/numbers.py), one text part."""
from __future__ import annotations

from consumer.channel_specs import AddressInvalid, ChannelSpec, TemplatePart


def check_address(address: str) -> str:
    from channels.sms.numbers import to_e164
    from consumer.outcomes import Permanent

    if isinstance(number := to_e164(address), Permanent):
        raise AddressInvalid(number.message)
    return number


SPEC = ChannelSpec(
    name="sms",
    summary="SMS through Twilio, AWS SNS or a custom HTTP provider, with failover, segments and cost",
    address="a phone number in E.164 (+14155550100)",
    check_address=check_address,
    legacy_address_field="phone",
    parts=(TemplatePart("text", "one_line"),),
    provider="channels.sms.provider:SmsProvider",
    providers=("twilio", "sns", "http"),
)
