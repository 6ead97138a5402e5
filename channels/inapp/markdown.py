"""Markdown bodies rendered to HTML once, when the item is written, so the bell can show them
without a parser: CommonMark without raw HTML or images (markdown-it-py's link check refuses
javascript:, vbscript:, file: and data: links)."""
from __future__ import annotations

import functools


@functools.cache
def _renderer():
    from markdown_it import MarkdownIt  # the inapp extra; the gateway reads items without it
    # "html": False escapes any HTML in the source; images would load remote content in the product.
    return MarkdownIt("commonmark", {"html": False}).disable("image")


def markdown_html(source: str) -> str:
    return _renderer().render(source)
