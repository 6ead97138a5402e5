"""Which characters each kind of text may carry, checked at every entrance (`tidings publish`, the
gateway, the directory, the router for events from any producer) before anything reaches Postgres."""
from __future__ import annotations

import re
from typing import Any

# Unpaired surrogates (from JSON escapes like "\ud800") cannot be encoded as UTF-8 at all, so
# every rule refuses them too.
# Every C0 and C1 control character and DEL: nothing that names or addresses something, and
# nothing that becomes a header line, has a use for them (CR/LF would split a header).
SINGLE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Message bodies keep TAB, LF and CR; the other controls are refused.
BODY = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x80-\x9f\ud800-\udfff]")
# Inside `data` and `options` everything is kept except NUL, which Postgres text and jsonb cannot hold.
JSON_TEXT = re.compile(r"[\x00\ud800-\udfff]")
# JSON text whose decoded value may break JSON_TEXT: a raw NUL, a \u0000 escape, a surrogate escape
# (a valid pair matches too; decoding and json_flaw then find nothing).
_JSON_ESCAPES = re.compile(r"\x00|\\u0000|\\u[dD][89a-fA-F]|[\ud800-\udfff]")

# Fields of a notification (the JSON form and the Avro record alike) and the rule each follows.
SINGLE_LINE_FIELDS = ("id", "created_at", "priority", "source", "tenant", "category", "expires_at",
                      "idempotency_key")
CONTENT_RULES = {"subject": SINGLE_LINE, "text": BODY, "html": BODY}


class ControlCharacter(ValueError):
    """A value holds a character its field cannot carry. Each entrance's own error type mixes this
    in, so the gateway answers 400 for all of them; the message starts with the field's path."""


def flaw(value: str, rule: re.Pattern) -> str | None:
    """What is wrong with `value` under `rule` ("contains a control character (U+0000) at
    position 3", positions counted from 1), or None when it is clean."""
    found = rule.search(value)
    if found is None:
        return None
    code = ord(found.group())
    kind = "an unpaired surrogate" if 0xD800 <= code <= 0xDFFF else "a control character"
    return f"contains {kind} (U+{code:04X}) at position {found.start() + 1}"


def field_flaw(path: str, value: Any, rule: re.Pattern) -> str | None:
    """"path: flaw" for a string breaking `rule`; None for a clean string or any other type
    (type errors are the caller's to report)."""
    problem = flaw(value, rule) if isinstance(value, str) else None
    return _at(path, problem) if problem else None


def key_flaw(path: str, key: Any, rule: re.Pattern) -> str | None:
    """"path: key 'a\\x00b' contains ..." for an object key breaking `rule`."""
    problem = flaw(key, rule) if isinstance(key, str) else None
    return _at(path, f"key {key!r} {problem}") if problem else None


def _at(path: str, problem: str) -> str:
    return f"{path}: {problem}" if path else problem


def json_flaw(value: Any, path: str) -> str | None:
    """The first key or string at any depth of a decoded JSON value holding NUL (or an unpaired
    surrogate), named by its path (data.user.name, data.codes[2]); None when there is none."""
    stack = [(path, value)]
    while stack:  # depth-first without recursion: nesting depth is the sender's choice
        where, item = stack.pop()
        if isinstance(item, str):
            if problem := field_flaw(where, item, JSON_TEXT):
                return problem
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                if problem := key_flaw(where, key, JSON_TEXT):
                    return problem
                children.append((_child(where, key), child))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(reversed([(f"{where}[{index}]", child) for index, child in enumerate(item)]))
    return None


def _child(path: str, key: str) -> str:
    """data.user; data['a\\tb'] for a key a path should not print as it is."""
    if not isinstance(key, str) or not key or SINGLE_LINE.search(key):
        return f"{path}[{key!r}]"
    return f"{path}.{key}" if path else key


def may_decode_to_nul(json_text: str) -> bool:
    """False when decoding the JSON text cannot yield a string breaking JSON_TEXT, so the router
    need not walk what it decoded (the common case, and the walk costs more than the decoding)."""
    if json_text.isascii() and "\\u" not in json_text and "\x00" not in json_text:
        return False  # no escape, NUL or surrogate: two C scans instead of the regex's alternation
    return _JSON_ESCAPES.search(json_text) is not None


def notification_flaw(notification: dict) -> str | None:
    """The first field of a notification breaking its rule, as "path: what", or None. Works on the
    JSON form (`data`, `options` objects) and on the decoded Avro record (`data`, `options` JSON
    text: only the text is checked here; see may_decode_to_nul). Values of the wrong type are
    skipped: their validation says what is wrong."""
    if _clean(notification):
        return None
    for key in notification:
        if problem := key_flaw("", key, SINGLE_LINE):
            return problem
    for name in SINGLE_LINE_FIELDS:
        if problem := field_flaw(name, notification.get(name), SINGLE_LINE):
            return problem
    channels = notification.get("channels")
    for index, channel in enumerate(channels if isinstance(channels, list) else []):
        if problem := field_flaw(f"channels[{index}]", channel, SINGLE_LINE):
            return problem
    return (_recipient_flaw(notification.get("recipient")) or _content_flaw(notification.get("content"))
            or json_flaw(notification.get("data"), "data"))


def _recipient_flaw(recipient: Any) -> str | None:
    if not isinstance(recipient, dict):
        return None
    for key, value in recipient.items():
        problem = key_flaw("recipient", key, SINGLE_LINE) or field_flaw(f"recipient.{key}", value, SINGLE_LINE)
        if problem:
            return problem
    addresses = recipient.get("addresses")
    for channel, address in (addresses.items() if isinstance(addresses, dict) else ()):
        problem = (key_flaw("recipient.addresses", channel, SINGLE_LINE)
                   or field_flaw(_child("recipient.addresses", channel), address, SINGLE_LINE))
        if problem:
            return problem
    return None


def _content_flaw(content: Any) -> str | None:
    if not isinstance(content, dict):
        return None
    for key, entry in content.items():
        if problem := key_flaw("content", key, SINGLE_LINE):
            return problem
        if not isinstance(entry, dict):
            continue
        where = f"content.{key}"
        for name in entry:
            if problem := key_flaw(where, name, SINGLE_LINE):
                return problem
        for name, rule in CONTENT_RULES.items():
            if problem := field_flaw(f"{where}.{name}", entry.get(name), rule):
                return problem
        template = entry.get("template")
        name = template.get("name") if isinstance(template, dict) else template
        if problem := field_flaw(f"{where}.template" + (".name" if isinstance(template, dict) else ""), name,
                                 SINGLE_LINE):
            return problem
        if problem := json_flaw(entry.get("options"), f"{where}.options"):
            return problem
    return None


def _clean(notification: dict) -> bool:
    """True when no string of the notification holds a character its rule refuses, found with one
    search per rule over the joined strings (the router runs this on every event). False when one
    does, or when a value is not text (the JSON form's `data`, say): notification_flaw then walks."""
    try:
        lines, bodies, json_texts = _joined(notification)
    except (TypeError, AttributeError):
        return False
    return _passes(lines, SINGLE_LINE) and _passes(bodies, BODY) and _passes(json_texts, JSON_TEXT)


def _passes(text: str, rule: re.Pattern) -> bool:
    """Every character a rule refuses (C0, DEL, C1, surrogates) is unprintable, so printable text
    passes them all; isprintable() is one C pass, cheaper than the regex's charset test."""
    return text.isprintable() or not rule.search(text)


def _joined(n: dict) -> tuple[str, str, str]:
    """Every string a rule applies to, joined per rule; "".join raises TypeError on a non-string.
    Plain loops, run on every event: generator expressions cost half again as much (2.9 against 2.0 us)."""
    recipient = n.get("recipient") or {}
    addresses = recipient.get("addresses") or {}
    lines = [*n]
    for name in SINGLE_LINE_FIELDS:
        if type(value := n.get(name)) is str:
            lines.append(value)
    lines += n.get("channels") or ()
    for key, value in recipient.items():
        lines.append(key)
        if value and key != "addresses":
            lines.append(value)
    for channel, address in addresses.items():
        lines.append(channel)
        if address:
            lines.append(address)
    bodies, json_texts = [], [n.get("data") or ""]
    for key, entry in (n.get("content") or {}).items():
        lines.append(key)
        lines += entry
        template = entry.get("template")
        for line in (entry.get("subject"), template.get("name") if isinstance(template, dict) else template):
            if line:
                lines.append(line)
        for body in (entry.get("text"), entry.get("html")):
            if body:
                bodies.append(body)
        json_texts.append(entry.get("options") or "")
    return "".join(lines), "".join(bodies), "".join(json_texts)
