"""NotificationEvent v4 (schema id 9) carries recipient.addresses, channel name -> address, so a
channel needs no schema change; v1-v3 events stay readable and their per-channel fields are
folded into the map, by the router and by the directory (migration 013 moved its columns)."""
from __future__ import annotations

import io
import json
import struct

import fastavro
import psycopg
import pytest

from consumer.channel_specs import folded_addresses
from consumer.codec import Codec, LocalSchemas
from consumer.events import NOTIFICATION
from consumer.notification_json import InvalidNotification, notification_from_json
from router.recipients import RecipientDirectory, RecipientInvalid, resolve
from schemas import SCHEMA_DIR
from tracking.migrate import migrate


def v3_bytes(record: dict) -> bytes:
    v3 = fastavro.parse_schema(json.loads((SCHEMA_DIR / "notification_event.v3.avsc").read_text()))
    old = {**record, "recipient": {k: v for k, v in record["recipient"].items() if k != "addresses"}}
    out = io.BytesIO()
    out.write(struct.pack(">bI", 0, 8))
    fastavro.schemaless_writer(out, v3, old)
    return out.getvalue()


def test_v4_carries_addresses_and_v3_fields_fold_into_them():
    record = notification_from_json({"source": "s", "channels": ["email", "sms"],
                                     "recipient": {"id": "u1", "email": "ada@example.com",
                                                   "addresses": {"sms": "+14155550100"}}})
    assert record["recipient"]["addresses"] == {"email": "ada@example.com", "sms": "+14155550100"}
    codec = Codec(LocalSchemas())
    encoded = codec.encode(NOTIFICATION, record)
    assert struct.unpack(">I", encoded[1:5])[0] == 11  # v6 is the current schema since issue 19
    assert codec.decode(NOTIFICATION, encoded)["recipient"]["addresses"] == record["recipient"]["addresses"]

    legacy = {**record, "recipient": {**record["recipient"], "phone": "+14155550199", "webhook_url": "https://h.example/x"}}
    decoded = codec.decode(NOTIFICATION, v3_bytes(legacy))
    assert decoded["recipient"]["addresses"] == {}  # a v3 writer had no map: the reader's default
    assert folded_addresses(decoded["recipient"]) == {"email": "ada@example.com", "sms": "+14155550199",
                                                      "webhook": "https://h.example/x"}


def test_addresses_name_known_channels_only():
    with pytest.raises(InvalidNotification, match="recipient.addresses: 'pager' is not a channel"):
        notification_from_json({"source": "s", "channels": ["email"], "recipient": {"id": "u1", "addresses": {"pager": "x"}}})
    with pytest.raises(InvalidNotification, match="recipient.addresses.email"):
        notification_from_json({"source": "s", "channels": ["email"], "recipient": {"id": "u1", "addresses": {"email": ""}}})


@pytest.fixture
def conn(database_url):
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


def test_the_directory_stores_addresses_as_a_map_and_reads_the_old_fields(conn):
    directory = RecipientDirectory(conn)
    directory.upsert([{"id": "u1", "email": "ada@example.com", "phone": "+1 415 555 0100", "locale": "pt-BR"}])
    directory.upsert([{"id": "u1", "addresses": {"slack": "#alerts", "email": None}}])  # null removes one
    stored = directory.show("u1")
    assert stored["addresses"] == {"sms": "+14155550100", "slack": "#alerts"}  # the phone normalised to E.164
    assert (stored["phone"], stored["email"], stored["locale"]) == ("+14155550100", None, "pt-BR")
    assert conn.execute("SELECT addresses FROM recipients").fetchone() == ({"sms": "+14155550100", "slack": "#alerts"},)
    with pytest.raises(RecipientInvalid, match="addresses.webhook"):
        directory.upsert([{"id": "u2", "addresses": {"webhook": "ftp://nope"}}])
    with pytest.raises(RecipientInvalid, match="'pager' is not a channel"):
        directory.upsert([{"id": "u2", "addresses": {"pager": "x"}}])

    merged = resolve({"id": "u1", "email": "inline@example.com", "addresses": {"webhook": "https://h.example/x"}},
                     stored)
    assert merged["addresses"] == {"sms": "+14155550100", "slack": "#alerts", "email": "inline@example.com",
                                   "webhook": "https://h.example/x"}


def test_migration_013_moves_the_old_columns_into_the_map(postgres_server_url, database_url):
    from tracking.migrate import pending_files

    files = pending_files()
    with psycopg.connect(database_url, autocommit=True) as c:
        for path in files:
            if path.name.startswith("013"):
                break
            c.execute(path.read_text().encode())
        c.execute("INSERT INTO recipients (id, email, phone, slack, webhook_url) VALUES"
                  " ('a', 'a@example.com', '+14155550100', NULL, ''), ('b', NULL, NULL, NULL, NULL)")
        c.execute(next(p for p in files if p.name.startswith("013")).read_text().encode())
        rows = dict(c.execute("SELECT id, addresses FROM recipients ORDER BY id").fetchall())
    assert rows == {"a": {"email": "a@example.com", "sms": "+14155550100"}, "b": {}}
