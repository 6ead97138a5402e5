"""The sendMessage body for one channel message: which text goes with which parse mode, the subject
as a bold first line escaped for that mode, silence for LOW priority, refused before sending when
Telegram would refuse it (empty, or over 4096 characters once its entities are parsed)."""
from __future__ import annotations

from channels.telegram.markup import HTML, MARKDOWN_V2, bold, parsed_length
from channels.telegram.options import TelegramOptions
from consumer.outcomes import Permanent

MAX_TEXT = 4096  # characters after entities parsing (Bot API, sendMessage)


def chat_id(address: str) -> int | str:
    """A numeric chat id as the integer Telegram documents, an @channel as it is."""
    return address if address.startswith("@") else int(address)


def text_and_mode(message: dict, options: TelegramOptions) -> tuple[str, str | None] | Permanent:
    """The text to send and its parse mode. A `markdown` part (data escaped for MarkdownV2 by the
    router) is sent as MarkdownV2; an `html` part or field (data HTML-escaped) as HTML; the text as plain text, or in the mode the options name when the
    publisher wrote it in that markup. A template's text part is plain, its data unescaped, so a
    parse mode over it would let data break or inject markup: refused."""
    if options.markdown:  # the template's `markdown` part (data escaped for MarkdownV2), or the publisher's
        return _with_subject(message, options.markdown, MARKDOWN_V2)
    mode = options.parse_mode or (HTML if message.get("html") else None)
    as_html = mode == HTML and bool(message.get("html"))
    body = message["html"] if as_html else message.get("text")
    if mode is not None and not as_html and body and message.get("template"):
        return Permanent("invalid_options", f"parse_mode {mode}: a template's text part is plain text (its "
                                            "data is not escaped for it); use the html or markdown part")
    return _with_subject(message, body, mode)


def _with_subject(message: dict, body: str | None, mode: str | None) -> tuple[str, str | None] | Permanent:
    subject = message.get("subject")
    text = f"{bold(subject, mode)}\n{body}" if subject and body else bold(subject, mode) if subject else body
    if not text or not text.strip():
        return Permanent("telegram_empty_text", "nothing to send: no text or subject")
    if (length := parsed_length(text, mode)) > MAX_TEXT:
        return Permanent("telegram_text_too_long", f"the text is {length:,} characters once parsed "
                                                   f"({mode or 'plain'}); Telegram takes {MAX_TEXT:,}")
    return text, mode


def send_message_body(message: dict, options: TelegramOptions) -> dict | Permanent:
    composed = text_and_mode(message, options)
    if isinstance(composed, Permanent):
        return composed
    text, mode = composed
    silent = options.disable_notification
    body: dict = {"chat_id": chat_id(message["address"]), "text": text,
                  "disable_notification": silent if silent is not None else message.get("priority") == "LOW"}
    if mode is not None:
        body["parse_mode"] = mode
    if options.disable_link_preview:
        body["link_preview_options"] = {"is_disabled": True}
    if options.message_thread_id is not None:
        body["message_thread_id"] = options.message_thread_id
    return body
