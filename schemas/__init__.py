"""The Avro contract: .avsc files and the schema-id map (ids.json) that producers in any language use.

Loaded by consumer.codec; nothing here imports a service.
"""
from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent
