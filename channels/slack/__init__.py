"""The slack channel: its provider(s) and what they need."""
