"""A ChannelMessage as an inbox item: title, body (and its HTML when Markdown), action URL and data
from the options (a template's parts) or the subject and text."""
from __future__ import annotations

import json
from dataclasses import dataclass

from channels.inapp.markdown import markdown_html
from channels.inapp.options import InboxOptions
from consumer.channel_options import read_options
from consumer.outcomes import Permanent


@dataclass(frozen=True)
class Item:
    delivery_id: str
    notification_id: str
    tenant: str
    recipient_id: str
    title: str
    body: str
    body_html: str | None
    action_url: str | None
    data: str | None  # JSON text
    category: str
    priority: str
    source: str
    created_at: object  # datetime of the notification


def item_of(message: dict, max_body_chars: int) -> Item | Permanent:
    options = read_options(InboxOptions, message.get("options"))
    if isinstance(options, Permanent):
        return options
    title = options.title if options.title is not None else (message.get("subject") or "")
    body = options.body if options.body is not None else (message.get("text") or "")
    if not (title or body):
        return Permanent("inbox_empty", "an inbox item needs a title or a body (subject, text or template parts)")
    if len(body) > max_body_chars or len(title) > 1000:
        return Permanent("inbox_too_large", f"the body is over {max_body_chars} characters or the title over 1000 "
                                            "(TIDINGS_INAPP_MAX_BODY_CHARS)")
    return Item(
        delivery_id=message["delivery_id"], notification_id=message["notification_id"], tenant=message["tenant"],
        recipient_id=message["recipient_id"], title=title, body=body,
        body_html=markdown_html(body) if options.format == "markdown" else None,
        action_url=options.action_url,
        data=json.dumps(options.data, separators=(",", ":")) if options.data is not None else None,
        category=message["category"], priority=message["priority"], source=message.get("source") or "",
        created_at=message["created_at"])
