"""Telegram's two markups as the channel writes them: escaping plain text (the subject) for HTML or
MarkdownV2, and the length of a text once Telegram has parsed its entities, which is what its
4096-character limit counts. Used by channels/telegram/request.py."""
from __future__ import annotations

import html
import re

from consumer.markup import markdown_v2_escape

HTML, MARKDOWN_V2 = "HTML", "MarkdownV2"
_HTML_TAG = re.compile(r"<[^>]*>")
# MarkdownV2 after parsing: an escaped character stands for itself; a link keeps its label only;
# unescaped entity markers (bold, italic, underline, strike, spoiler, code, quote) disappear.
_MARKDOWN_V2_LINK = re.compile(r"(?<!\\)\[((?:\\.|[^\]\\])*)\]\((?:\\.|[^)\\])*\)")
_MARKDOWN_V2_MARKER = re.compile(r"(?<!\\)(?:\*|__?|~|\|\||```[^\n]*\n?|`|^>)", re.MULTILINE)
_MARKDOWN_V2_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def escape_html(text: str) -> str:
    """Plain text for parse_mode HTML: the three characters Telegram wants as entities, and quotes
    (safe inside an attribute too)."""
    return html.escape(text, quote=True)


def bold(text: str, parse_mode: str | None) -> str:
    """Plain text shown bold where the mode has bold (the subject over the text)."""
    if parse_mode == HTML:
        return f"<b>{escape_html(text)}</b>"
    if parse_mode == MARKDOWN_V2:
        return f"*{markdown_v2_escape(text)}*"
    return text


def parsed_length(text: str, parse_mode: str | None) -> int:
    """Characters left once Telegram has taken the markup out (close enough to refuse what it
    would refuse; Telegram's own parser has the last word)."""
    if parse_mode == HTML:
        return len(html.unescape(_HTML_TAG.sub("", text)))
    if parse_mode == MARKDOWN_V2:
        text = _MARKDOWN_V2_LINK.sub(r"\1", text)
        # Markers are taken out before escapes are resolved, so an escaped `\*` stays a character.
        return len(_MARKDOWN_V2_ESCAPE.sub(r"\1", _MARKDOWN_V2_MARKER.sub("", text)))
    return len(text)
