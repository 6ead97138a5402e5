"""SMS addresses: the recipient's phone number parsed and normalised to E.164 before any
provider is tried, so every provider sees the same `+15551234567` form, and refused unless its
kind (phonenumbers' number type) is on the allow-list: premium-rate and satellite numbers cost
the sender dearly per message and are how SMS pumping fraud gets paid."""
from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumberType

from consumer.outcomes import Permanent
from channels.sms.settings import SmsSettings

# Numbers of the non-geographic calling codes (+800, +808, +870, +881, +882, +883, +979, ...):
# satellite phones and international networks. phonenumbers calls +881/+870 numbers "mobile",
# so they are a kind of their own here.
NON_GEOGRAPHIC = "non_geographic"
KINDS = {value: name.lower() for name, value in vars(PhoneNumberType).items()
         if name.isupper() and name != "UNKNOWN"}


def parse_allowed_kinds(text: str) -> frozenset[str]:
    """"mobile, fixed_line, ..." -> the kinds; ValueError naming an unknown one and the known ones."""
    kinds = frozenset(k.strip().lower() for k in text.split(",") if k.strip())
    known = {*KINDS.values(), NON_GEOGRAPHIC}
    unknown = sorted(kinds - known)
    if unknown or not kinds:
        raise ValueError(f"sms_allowed_number_types: {text!r} (known: {', '.join(sorted(known))})")
    return kinds


ALL_KINDS = frozenset({*KINDS.values(), NON_GEOGRAPHIC, "unknown"})

# Mobile and fixed-line, and "fixed_line_or_mobile": phonenumbers cannot tell the two apart in the
# NANP (US, Canada, ...) and several other regions.
DEFAULT_ALLOWED = parse_allowed_kinds(SmsSettings.model_fields["sms_allowed_number_types"].default)


def number_kind(number: phonenumbers.PhoneNumber) -> str:
    region = phonenumbers.region_code_for_country_code(number.country_code)
    if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        return NON_GEOGRAPHIC
    return KINDS.get(phonenumbers.number_type(number), "unknown")


def to_e164(address: str, default_region: str = "US", allowed: frozenset[str] = DEFAULT_ALLOWED) -> str | Permanent:
    """`address` in E.164, Permanent("invalid_phone_number") when it is not a valid number, or
    Permanent("number_type_refused") when its kind is not `allowed`. Numbers without a leading +
    are read as national numbers of `default_region`."""
    raw = (address or "").strip()
    try:
        number = phonenumbers.parse(raw, default_region.upper() or None)
    except phonenumbers.NumberParseException as exc:
        return Permanent("invalid_phone_number", f"{raw[:40]!r}: {exc}")
    if not phonenumbers.is_valid_number(number):
        return Permanent("invalid_phone_number", f"{raw[:40]!r} is not a valid phone number")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    kind = number_kind(number)
    if kind not in allowed:
        return Permanent("number_type_refused", f"{e164}: number type {kind} is not allowed "
                                                f"(TIDINGS_SMS_ALLOWED_NUMBER_TYPES: {','.join(sorted(allowed))})")
    return e164
