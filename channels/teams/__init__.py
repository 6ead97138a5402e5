"""The Microsoft Teams channel: Adaptive Cards posted to a Workflows or incoming-webhook URL."""
