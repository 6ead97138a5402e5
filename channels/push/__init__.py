"""The mobile push channel: one device per message, through Firebase Cloud Messaging (HTTP v1,
OAuth2 from a service account) or the Apple Push Notification service (HTTP/2, ES256 tokens)."""
