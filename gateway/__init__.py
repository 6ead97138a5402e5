"""The HTTP gateway: a REST API in front of the pipeline (publish, status, statistics, templates,
recipients, DLQ, Alertmanager, unsubscribe), authenticated, rate-limited and audited."""
