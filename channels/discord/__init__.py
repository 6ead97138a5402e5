"""The Discord channel: messages (content, embeds, a username and avatar) posted to a webhook URL on Discord's hosts."""
