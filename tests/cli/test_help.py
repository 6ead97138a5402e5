"""`tidings --help` as a user reads it: the `run` line names every service `tidings run` accepts."""
from __future__ import annotations

import re

from tests.cli.run import tidings


def listed(help_text: str, heading: str) -> dict[str, str]:
    """The sub-commands a help text lists under `heading` (name -> help line)."""
    lines = help_text.split(f"  {heading}\n", 1)[1].splitlines()
    return {m[1]: m[2] for line in lines if (m := re.match(r"    (\S+)\s+(.*)", line))}


def test_the_run_line_of_the_help_names_every_service():
    services = listed(tidings(None, "run", "--help").stdout, "SERVICE")
    assert {"router", "channel", "sink", "gateway"} <= set(services)
    run_line = listed(tidings(None, "--help").stdout, "VERB")["run"]
    assert [s for s in services if not re.search(rf"\b{s}\b", run_line)] == [], run_line
