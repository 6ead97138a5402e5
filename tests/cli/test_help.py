"""`tidings --help` as a user reads it: the `run` line names every service `tidings run` accepts; a
command declares only its own options."""
from __future__ import annotations

import re
import subprocess
import sys

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


def test_a_command_imports_no_other_verb_module():
    """Start-up: `tidings stats` declares its own options, not those of the verbs in their own
    modules (their imports pull in aiohttp, jinja2 and the router's stores)."""
    probe = ("import sys; from cli.main import MODULE_VERBS, build_parser;"
             " build_parser(sys.argv[1]).parse_args(sys.argv[1:]);"
             " print(sorted(v for v in MODULE_VERBS if f'cli.{v}' in sys.modules), 'aiohttp' in sys.modules)")
    for argv, loaded in ((["stats", "--by", "channel"], "[] False"), (["status", "x"], "[] False"),
                         (["prefs", "show", "ada"], "['prefs'] False")):
        done = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=60)
        assert done.stdout.strip() == loaded, (argv, done.stdout, done.stderr)
    help_text = tidings(None, "--help").stdout
    assert [v for v in ("cancel", "templates", "recipients", "prefs", "suppressions", "stats", "status")
            if not re.search(rf"^    {v}\b", help_text, re.M)] == [], help_text
