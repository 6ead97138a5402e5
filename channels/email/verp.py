"""The email channel's return path (VERP): with TIDINGS_SMTP_BOUNCE_ADDRESS set, MAIL FROM is
`<local>+<delivery id>@<domain>`, so a bounce names its delivery (read back by gateway/receipt_sources/dsn.py)."""
from __future__ import annotations

import re

# One bare ASCII address: the envelope sender goes out in MAIL FROM as it is.
_BOUNCE_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")
# A delivery id is a UUID (consumer/events.py): nothing else is read back out of an address.
_DELIVERY_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def bounce_address_flaw(address: str) -> str | None:
    """Why `address` cannot be the bounce address, or None."""
    if not _BOUNCE_ADDRESS.fullmatch(address) or address.startswith(".") or ".." in address:
        return f"{address!r} is not one plain ASCII address like bounces@example.com"
    return None


def return_path(bounce_address: str, delivery_id: str) -> str:
    """bounces@example.com, 5f0c...-... -> bounces+5f0c...-...@example.com; an id that is not a
    UUID (a message made elsewhere) is not put into an address: the bounce address as it is."""
    if not _DELIVERY_ID.fullmatch(delivery_id.lower()):
        return bounce_address
    local, _, domain = bounce_address.rpartition("@")
    return f"{local}+{delivery_id.lower()}@{domain}"


def delivery_of(bounce_address: str, address: str) -> str | None:
    """The delivery id a return path names, when `address` is one made by return_path() for this
    bounce address; else None. Compared case-insensitively: some servers lower-case the address."""
    local, _, domain = bounce_address.lower().rpartition("@")
    their_local, at, their_domain = address.strip().strip("<>").lower().rpartition("@")
    if not at or their_domain != domain or not their_local.startswith(local + "+"):
        return None
    candidate = their_local[len(local) + 1:]
    return candidate if _DELIVERY_ID.fullmatch(candidate) else None


def delivery_of_message_id(message_id_domain: str, value: str) -> str | None:
    """The delivery id in a Message-ID made by channels/email/message.py (`<delivery id@domain>`),
    the other name a returned message's headers give its delivery; else None."""
    local, at, domain = value.strip().strip("<>").lower().rpartition("@")
    if not at or domain != message_id_domain.lower():
        return None
    return local if _DELIVERY_ID.fullmatch(local) else None
