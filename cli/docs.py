"""`tidings docs render DIR [--check]`: write the reference pages that follow from the code
(cli/docs_render.py: the configuration page, one page per channel, the channel index, and the
channel table between its markers in README.md) into a checkout, or say how the ones there differ
from them.

DIR is a checkout: the hand-written parts are read from DIR/docs (P.intro.md beside each generated
page P.md), the pages are written to DIR/docs, and generated pages of channels that are gone are
removed. Nothing else under docs/, and nothing else in README.md, is touched."""
from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import IO

COMMAND = "tidings docs render ."


def add_parser(verbs) -> None:
    docs = verbs.add_parser("docs", help="reference pages generated from the settings models and the channel registry")
    actions = docs.add_subparsers(dest="docs_verb", required=True, metavar="ACTION")
    render_ = actions.add_parser("render", help="write docs/configuration.md, docs/channels/README.md and a page per "
                                                "channel into DIR/docs")
    render_.add_argument("dir", metavar="DIR", help="a checkout: reads DIR/docs/**/*.intro.md, writes DIR/docs/...")
    render_.add_argument("--check", action="store_true",
                         help="write nothing; print the differences and exit 1 when DIR is not up to date")


def differences(root: Path) -> list[str]:
    """What `tidings docs render ROOT` would change: a unified diff per page that differs, and a line
    per generated page it would remove. Empty when ROOT is up to date."""
    from cli.docs_render import render, stale

    rendered = render(root)
    found = []
    for name, wanted in rendered.items():
        path = root / name
        have = path.read_text(encoding="utf-8") if path.exists() else ""
        if have != wanted:
            found.append("".join(difflib.unified_diff(have.splitlines(keepends=True), wanted.splitlines(keepends=True),
                                                      f"{name} (in {root})", f"{name} (rendered)")))
    found += [f"{name}: generated for a channel that no longer exists; remove it\n" for name in stale(root, rendered)]
    return found


def write(root: Path, out: IO[str]) -> int:
    from cli.docs_render import render, stale

    rendered = render(root)
    for name, content in rendered.items():
        path = root / name
        if path.exists() and path.read_text(encoding="utf-8") == content:
            print(f"{name}: unchanged", file=out)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        state = "updated" if path.exists() else "written"
        path.write_text(content, encoding="utf-8")
        print(f"{name}: {state}", file=out)
    for name in stale(root, rendered):
        (root / name).unlink()
        print(f"{name}: removed (no such channel any more)", file=out)
    return 0


def docs_command(args: argparse.Namespace, out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    root = Path(args.dir)
    if not root.is_dir():
        print(f"tidings docs render: {root} is not a directory", file=err)
        return 2
    if not args.check:
        return write(root, out)
    found = differences(root)
    for difference in found:
        out.write(difference)
    if found:
        print(f"tidings docs render: {len(found)} page(s) out of date; run `{COMMAND}`", file=err)
        return 1
    return 0
