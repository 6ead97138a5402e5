"""Escaping plain text for the markup languages channels send: Slack's mrkdwn and Telegram's
MarkdownV2. The template sandbox escapes data printed into a part with them (router/sandbox.py);
a channel escapes its own text (a subject it wraps in markup) with the same functions."""
from __future__ import annotations

import re
from typing import Callable


def slack_escape(text: str) -> str:
    """Slack's own escaping: the three characters its mrkdwn uses for mentions and links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_MARKDOWN_V2_RESERVED = re.compile(r"([\\_*\[\]()~`>#+\-=|{}.!])")


def markdown_v2_escape(text: str) -> str:
    """Telegram's MarkdownV2: a backslash before each of its reserved characters."""
    return _MARKDOWN_V2_RESERVED.sub(r"\\\1", text)


# Markup languages whose data is escaped as it is printed (HTML is Jinja's own autoescape).
MARKUP_ESCAPES: dict[str, Callable[[str], str]] = {"slack": slack_escape, "markdownv2": markdown_v2_escape}
