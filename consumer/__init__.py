"""The shared Kafka runtime every Tidings service stands on: settings, codec, topic names,
the consume -> process -> commit loop, the producer, metrics and health.

Nothing in this package imports a service (router, channels, tracking).
"""
