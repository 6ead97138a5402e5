"""Reading the project's markdown as GitHub shows it: headings with their anchors, links with their
targets (markdown-it, so a `#` in a code block is not a heading)."""
from __future__ import annotations

import re
from pathlib import Path

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[2]
_PARSER = MarkdownIt("commonmark").enable("table")


def pages() -> list[Path]:
    """The pages people read: README, CONTRIBUTING, deploy/README, docs/ (the generated pages, not their intro
    sources, whose links to generated headings resolve only once rendered), the bench results."""
    found = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "bench" / "results" / "README.md",
             ROOT / "deploy" / "README.md"]
    found += sorted(p for p in (ROOT / "docs").rglob("*.md") if not p.name.endswith(".intro.md"))
    return found


def slug(text: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _text(inline) -> str:
    return "".join(child.content for child in inline.children or [] if child.type in ("text", "code_inline"))


def anchors(path: Path) -> set[str]:
    tokens, found, seen = _PARSER.parse(path.read_text(encoding="utf-8")), set(), {}
    for opening, inline in zip(tokens, tokens[1:]):
        if opening.type == "heading_open":
            base = slug(_text(inline))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def headings(path: Path, level: int) -> list[str]:
    tokens = _PARSER.parse(path.read_text(encoding="utf-8"))
    return [_text(inline) for opening, inline in zip(tokens, tokens[1:])
            if opening.type == "heading_open" and opening.tag == f"h{level}"]


def links(path: Path) -> list[str]:
    found = []
    for token in _PARSER.parse(path.read_text(encoding="utf-8")):
        for child in token.children or []:
            if child.type == "link_open":
                found.append(child.attrs["href"])
    return found
