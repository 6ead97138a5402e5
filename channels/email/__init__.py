"""The email channel: its provider(s) and what they need."""
