"""SMS addresses: the recipient's phone number parsed and normalised to E.164 before any
provider is tried, so every provider sees the same `+15551234567` form."""
from __future__ import annotations

import phonenumbers

from consumer.outcomes import Permanent


def to_e164(address: str, default_region: str = "US") -> str | Permanent:
    """`address` in E.164, or Permanent("invalid_phone_number") when it is not a valid number.
    Numbers without a leading + are read as national numbers of `default_region`."""
    raw = (address or "").strip()
    try:
        number = phonenumbers.parse(raw, default_region.upper() or None)
    except phonenumbers.NumberParseException as exc:
        return Permanent("invalid_phone_number", f"{raw[:40]!r}: {exc}")
    if not phonenumbers.is_valid_number(number):
        return Permanent("invalid_phone_number", f"{raw[:40]!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
