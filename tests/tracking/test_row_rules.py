"""What the sink checks in each staging row before COPY (tracking.row_rules): NUL in any text
column becomes U+FFFD and nothing else changes; a row without one is passed on as it is."""
from __future__ import annotations

import uuid

from tests.tracking.test_store import event
from tracking.row_rules import REPLACEMENT, row_problem, safe_text
from tracking.store import COLUMN_TYPES, EVENT_COLUMNS, event_row

TEXT_COLUMNS = [name for name, type_ in zip(EVENT_COLUMNS, COLUMN_TYPES) if type_ == "text"]


def test_a_row_without_nul_is_the_same_row():
    row = event_row(event(uuid.uuid4(), "failed", error_message="", provider_message_id=None))
    assert safe_text(row) is row


def test_nul_in_any_text_column_is_replaced_and_nothing_else_changes():
    for column in TEXT_COLUMNS:
        row = event_row({**event(uuid.uuid4(), "failed"), column: "a\x00b\x00"})
        safe = safe_text(row)
        changed = {EVENT_COLUMNS[i] for i, (old, new) in enumerate(zip(row, safe)) if old != new}
        assert changed == {column}
        assert safe[EVENT_COLUMNS.index(column)] == f"a{REPLACEMENT}b{REPLACEMENT}"


def test_a_name_with_a_control_character_is_a_problem_not_a_repair():
    row = event_row(event(uuid.uuid4(), "sent", channel="em\x00ail"))
    assert row_problem(row) == "channel: 'em\\x00ail' is not a printable name"
