"""Delivery tracking: the Postgres delivery log at the end of the pipeline.

The sink folds DeliveryEvents from <prefix>.deliveries into an event log and a per-delivery state table.
"""
