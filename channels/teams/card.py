"""The message a Teams Workflows (or incoming-webhook) URL takes: one Adaptive Card attachment.

The card is the template's `card` part (an AdaptiveCard object, or a list of card elements for
its body) when there is one; otherwise it is built from the subject (a bold heading) and the text
(a wrapping TextBlock, which renders Teams' Markdown subset)."""
from __future__ import annotations

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"  # what Teams renders on every client today
CARD_TYPE = "application/vnd.microsoft.card.adaptive"


def card_of(message: dict, card: dict | list | None = None) -> dict:
    """The AdaptiveCard for a ChannelMessage, from its `card` option (checked by TeamsOptions) or
    its subject and text."""
    if isinstance(card, list):
        return _card(card)
    if card is not None:
        return {"$schema": CARD_SCHEMA, "version": CARD_VERSION, **card}
    body = []
    if message.get("subject"):
        body.append({"type": "TextBlock", "text": message["subject"], "weight": "Bolder", "size": "Medium",
                     "wrap": True})
    if message.get("text"):
        body.append({"type": "TextBlock", "text": message["text"], "wrap": True})
    return _card(body)


def _card(body: list) -> dict:
    return {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": CARD_VERSION, "body": body}


def teams_message(card: dict) -> dict:
    """The request body: a message with the card as its one attachment."""
    return {"type": "message", "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": card}]}
