"""How `tidings status`, `stats` and `audit` print rows read from Postgres: a table when every
value fits whole at the terminal's width, else one paragraph per record of `key: value` pairs.

A table is only drawn when no cell needs a word cut: ids, timestamps and error classes are what
people copy, and rich's own squeezing ends them with "…" on a narrow terminal. Free-text columns
(an error message) may fold a long word, as a terminal would."""
from __future__ import annotations

from typing import Collection, Sequence

from rich.cells import cell_len
from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

FREE_TEXT_MIN = 20  # the narrowest a free-text column gets before the records layout is used
GAP = "  "  # between the pairs of a record


def show(console: Console, title: str, headers: Sequence[str], rows: Sequence[Sequence[str]],
         free_text: Collection[str] = ()) -> None:
    """Print `rows` (formatted strings, one per header) under `title`; the `free_text` columns'
    long words may fold."""
    widths = column_widths(headers, rows, console.width, [h in free_text for h in headers])
    if widths is None:
        show_records(console, title, headers, rows)
        return
    table = Table(*(Column(header, width=width, overflow="fold") for header, width in zip(headers, widths)),
                  title=title)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # Text, not markup: a "[" in an error is data
    console.print(table)


def column_widths(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int,
                  folds: Sequence[bool] | None = None) -> list[int] | None:
    """Content widths that keep every word whole within `width` (a folding column's within
    FREE_TEXT_MIN), or None when none do. Each column gets its longest word, then what is left
    goes to the columns closest to fitting on one line."""
    folds = folds or [False] * len(headers)
    columns = [[header, *(row[i] for row in rows)] for i, header in enumerate(headers)]
    longest = [max(cell_len(line) for cell in cells for line in (cell.splitlines() or [""])) for cells in columns]
    shortest = [max((cell_len(word) for cell in cells for word in cell.split()), default=1) for cells in columns]
    shortest = [min(least, max(FREE_TEXT_MIN, cell_len(cells[0]))) if fold else least
                for least, fold, cells in zip(shortest, folds, columns)]
    room = width - (3 * len(headers) + 1)  # rich's default box: a border and a space either side of each cell
    if sum(shortest) > room:
        return None
    widths, spare = list(shortest), room - sum(shortest)
    for i in sorted(range(len(widths)), key=lambda i: longest[i] - shortest[i]):
        grant = min(spare, max(0, longest[i] - widths[i]))
        widths[i] += grant
        spare -= grant
    return widths


def show_records(console: Console, title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """One paragraph per row: its `key: value` pairs (empty values left out) filled into lines of
    the terminal's width without ever splitting a pair, so every value stays whole for copying."""
    lines, width = [title], console.width  # rich measures the terminal at each ask (~50 us)
    for row in rows:
        lines.append("")
        line = ""
        for header, value in zip(headers, row):
            if not value:
                continue
            pair = f"{header}: {' '.join(value.splitlines())}"
            if line and cell_len(line + GAP + pair) > width:
                lines.append(line)
                line = ""
            line = f"{line}{GAP}{pair}" if line else pair
        if line:
            lines.append(line)
    lines.append("")
    # One write: rich costs ~0.1 ms a call, and `tidings stats --by` prints a thousand lines.
    console.out("\n".join(lines), highlight=False)
