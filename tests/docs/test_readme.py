"""The README is a front door: what Tidings is, the picture, the two commands, a first notification
followed with `tidings status`, and links into docs/, where the depth lives. The benchmark figures
live in bench/results/README.md only."""
from __future__ import annotations

from tests.docs.markdown import ROOT, headings, links, pages

README = ROOT / "README.md"


def test_the_readme_is_short_and_keeps_the_two_commands():
    text = README.read_text()
    assert 100 < len(text.splitlines()) <= 300
    assert "\nmake demo " in text and "\nmake test " in text
    assert headings(README, 2)[:2] == ["Two commands", "Your first notification"]
    assert "tidings publish" in text and "tidings status" in text


def test_the_readme_links_to_every_page_of_the_docs():
    linked = {(README.parent / href.split("#")[0]).resolve() for href in links(README) if "://" not in href}
    docs = {page.resolve() for page in pages() if page.is_relative_to(ROOT / "docs") and page.parent == ROOT / "docs"}
    assert len(docs) >= 10 and docs - linked == set()
    assert {(ROOT / "docs" / "channels" / "README.md").resolve(), (ROOT / "CONTRIBUTING.md").resolve()} <= linked


def test_the_benchmark_table_lives_in_bench_results_only():
    header = "| scenario | figure | value | compared with |"
    assert header in (ROOT / "bench" / "results" / "README.md").read_text()
    for page in [README, *sorted((ROOT / "docs").rglob("*.md"))]:
        text = page.read_text()
        assert header not in text and "bench-table" not in text, page
