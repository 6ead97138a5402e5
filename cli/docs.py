"""`tidings docs render DIR [--check]`: write the reference pages that follow from the code
(cli/docs_render.py: the configuration page, one page per channel, the channel index, and the
channel table between its markers in README.md) into a checkout, or say how the ones there differ
from them.

DIR is a checkout: the hand-written parts are read from DIR/docs (P.intro.md beside each generated
page P.md), the pages are written to DIR/docs, and generated pages of channels that are gone are
removed. Nothing else under docs/, and nothing else in README.md, is touched."""
from __future__ import annotations

import argparse
import sys
from typing import IO

from cli.generated_files import Generated

COMMAND = "tidings docs render ."


def add_parser(verbs) -> None:
    docs = verbs.add_parser("docs", help="reference pages generated from the settings models and the channel registry")
    actions = docs.add_subparsers(dest="docs_verb", required=True, metavar="ACTION")
    render_ = actions.add_parser("render", help="write docs/configuration.md, docs/channels/README.md and a page per "
                                                "channel into DIR/docs")
    render_.add_argument("dir", metavar="DIR", help="a checkout: reads DIR/docs/**/*.intro.md, writes DIR/docs/...")
    render_.add_argument("--check", action="store_true",
                         help="write nothing; print the differences and exit 1 when DIR is not up to date")


def _generated():
    from cli.docs_render import render, stale  # jinja2 and the registry: only for this verb

    return Generated("tidings docs render", "page(s)", "channel", lambda root: render(root), stale)


def docs_command(args: argparse.Namespace, out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    return _generated().run(args, out, err)
