"""The body of an Execute Webhook request, from a channel message and its DiscordOptions: the text
as `content`, the embeds, who posts it, and who it may ping (nobody unless the options say).

What Discord would refuse for its shape (nothing to post, content over 2000 characters) is refused
here, before a request: Discord counts every refused request toward an IP's invalid-request limit,
whose penalty is a ban of every webhook this worker posts to."""
from __future__ import annotations

from channels.discord.options import DiscordOptions
from consumer.outcomes import Permanent

MAX_CONTENT = 2000
# Without allowed_mentions, Discord pings whatever the content names, @everyone included, and the
# content holds data from the event.
NO_MENTIONS = {"parse": []}
_AS_GIVEN = {"username", "avatar_url", "tts", "thread_name"}


def discord_message(message: dict, options: DiscordOptions) -> dict | Permanent:
    body: dict = {}
    text = message.get("text") or ""
    if len(text) > MAX_CONTENT:
        return Permanent("discord_content_too_long", f"the text is {len(text):,} characters; Discord takes "
                                                     f"{MAX_CONTENT:,}")
    if text.strip():  # whitespace alone is an empty message to Discord
        body["content"] = text
    if options.embeds:
        body["embeds"] = options.embeds
    if not body:
        return Permanent("discord_empty_message", "neither text nor embeds to post")
    body.update(options.model_dump(include=_AS_GIVEN, exclude_none=True))
    mentions = options.allowed_mentions
    body["allowed_mentions"] = mentions.model_dump(exclude_none=True) if mentions else NO_MENTIONS
    return body
