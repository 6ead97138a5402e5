"""SMS length and cost before sending: GSM-7 or UCS-2 encoding, how many segments the text
takes, the 1,600-character cap, and the estimated cost from the per-provider price table."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from consumer.outcomes import Permanent

MAX_CHARS = 1600
# GSM 03.38 default alphabet (without ESC, 0x1B) and its extension table (ESC + char: 2 septets).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")
# (single-message limit, per-segment limit once concatenated) in units of the encoding.
LIMITS = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


@dataclass(frozen=True)
class SegmentCount:
    encoding: str  # GSM-7 | UCS-2
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def is_gsm7(text: str) -> bool:
    return all(c in GSM_BASIC or c in GSM_EXTENSION for c in text)


def count_segments(text: str) -> SegmentCount:
    """Segments as a handset reassembles them: an escape pair (GSM-7) or a surrogate pair
    (UCS-2) never straddles two segments, so a segment may hold one unit less."""
    if is_gsm7(text):
        encoding, widths = "GSM-7", [2 if c in GSM_EXTENSION else 1 for c in text]
    else:
        encoding, widths = "UCS-2", [2 if ord(c) > 0xFFFF else 1 for c in text]
    single, multi = LIMITS[encoding]
    units = sum(widths)
    if units <= single:
        return SegmentCount(encoding, units, 1 if units else 0)
    segments, used = 1, 0
    for width in widths:
        if used + width > multi:
            segments, used = segments + 1, 0
        used += width
    return SegmentCount(encoding, units, segments)


def check_length(text: str) -> SegmentCount | Permanent:
    if not text:
        return Permanent("empty_message", "an SMS needs text")
    if len(text) > MAX_CHARS:
        return Permanent("message_too_long", f"{len(text)} characters; the limit is {MAX_CHARS}")
    return count_segments(text)


def parse_prices(table: str) -> dict[str, Decimal]:
    """"twilio=0.0079,http=0.005" -> {provider: USD price per segment}."""
    prices: dict[str, Decimal] = {}
    for item in filter(None, (part.strip() for part in (table or "").split(","))):
        name, sep, price = item.partition("=")
        try:
            if not sep:
                raise InvalidOperation
            prices[name.strip()] = Decimal(price.strip())
        except InvalidOperation:
            raise ValueError(f"sms_prices: {item!r} is not provider=price") from None
    return prices


def estimate_cost(segments: int, price: Decimal | None) -> Decimal | None:
    return None if price is None else price * segments
