"""The Apprise channel: the long tail of chat and push services (Discord, Telegram, Pushover, ntfy,
Gotify, ...), one Apprise URL per recipient, delivered through the Apprise library in worker threads."""
