"""What the sink checks in each staging row before COPY, so one event can never fail the batch
it is written with: text from outside (answers, error messages) is made safe, a row Postgres
cannot hold at all is refused with the reason, and the sink dead-letters it alone.

Postgres text cannot hold NUL (COPY stops the whole batch on it), and cost is numeric(18, 6)."""
from __future__ import annotations

import operator
from decimal import Decimal, InvalidOperation

from tracking.store import EVENT_COLUMNS, _COLUMNS

_TEXT = tuple(i for i, (_, type_) in enumerate(_COLUMNS) if type_ == "text")
_TEXT_SET = frozenset(_TEXT)
_TEXTS = operator.itemgetter(*_TEXT)
# Names, not prose: a control character here means the event is garbage, not that it was quoted.
_NAMES = tuple(EVENT_COLUMNS.index(name) for name in ("channel", "priority", "status"))
_COST = EVENT_COLUMNS.index("cost")
MAX_COST = Decimal(10) ** 12  # numeric(18, 6): 12 digits before the point
REPLACEMENT = "\ufffd"


def row_problem(row: tuple) -> str | None:
    """Why the row cannot be stored at all (its field named), or None."""
    for i in _NAMES:
        value = row[i]
        if value is not None and (not value.isprintable() or not value):
            return f"{EVENT_COLUMNS[i]}: {value[:40]!r} is not a printable name"
    cost = row[_COST]
    if cost is not None:
        try:
            if not cost.is_finite() or abs(cost) >= MAX_COST:
                return f"cost: {cost} does not fit numeric(18, 6)"
        except (AttributeError, InvalidOperation):
            return f"cost: {cost!r} is not a number"
    return None


def safe_text(row: tuple) -> tuple:
    """The row with NUL in its text replaced by U+FFFD, the rest kept. (fastavro decodes only
    valid UTF-8, so NUL is the one character Postgres text refuses that can arrive.)"""
    # One search of the texts joined: a test per field costs the sink ~3x more per event.
    if "\x00" not in "".join(filter(None, _TEXTS(row))):
        return row
    return tuple(v.replace("\x00", REPLACEMENT) if i in _TEXT_SET and v is not None else v for i, v in enumerate(row))
