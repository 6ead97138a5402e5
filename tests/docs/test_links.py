"""Every link between the project's pages leads somewhere: the file exists and, when the link names
an anchor, the page has that heading (as GitHub makes anchors). The README links into docs/, the
docs link to each other, and a renamed heading breaks a test instead of a reader's click."""
from __future__ import annotations

from urllib.parse import unquote, urlsplit

from tests.docs.markdown import ROOT, anchors, links, pages


def broken_links() -> list[str]:
    found = []
    for page in pages():
        for href in links(page):
            target = urlsplit(href)
            if target.scheme or target.netloc:
                continue  # the web: not checked here
            path = (page.parent / unquote(target.path)).resolve() if target.path else page
            where = f"{page.relative_to(ROOT)}: {href}"
            if not path.exists():
                found.append(f"{where}: no such file")
            elif target.fragment and path.suffix == ".md" and target.fragment not in anchors(path):
                found.append(f"{where}: no heading with that anchor in {path.relative_to(ROOT)}")
    return found


def test_every_relative_link_and_anchor_resolves():
    assert len(pages()) > 15
    assert broken_links() == []


def test_the_checker_sees_a_broken_anchor(tmp_path, monkeypatch):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## A `code` heading (with words)\n\n[ok](#a-code-heading-with-words) "
                    "[bad](#nowhere) [file](missing.md) [web](https://example.com/x)\n\n```sh\n# not a heading\n```\n")
    monkeypatch.setattr("tests.docs.test_links.pages", lambda: [page])
    monkeypatch.setattr("tests.docs.test_links.ROOT", tmp_path)
    assert broken_links() == ["page.md: #nowhere: no heading with that anchor in page.md",
                              "page.md: missing.md: no such file"]
    assert "not-a-heading" not in anchors(page)
