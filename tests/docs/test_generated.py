"""The reference pages generated from the code (`tidings docs render`, cli/docs.py): the committed
ones are exactly what the settings models and the channel registry render, a new channel gets its
page, its index row and its settings section without a template edit, and the command writes,
checks and cleans up as it says."""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import io
import shutil

import pytest
from pydantic import BaseModel, Field

import gateway.settings  # noqa: F401 - registers the gateway's model
from cli.docs import COMMAND, docs_command
from cli.docs_render import CHANNELS, CONFIGURATION, INDEX, MARK, intro_of, owners, render
from consumer.channel_specs import ChannelSpec, Failure, TemplatePart, registry
from consumer.settings import known_sections
from tests.docs.markdown import ROOT, anchors, headings

PROJECT = ("consumer", "channels", "gateway", "router", "tracking", "cli")


def checkout_copy(tmp_path):
    """The hand-written sources of the docs (the intros), as a checkout holds them."""
    root = tmp_path / "checkout"
    shutil.copytree(ROOT / "docs", root / "docs", ignore=shutil.ignore_patterns("configuration.md", "README.md",
                                                                             *(f"{n}.md" for n in registry())))
    return root


def run(root, check: bool) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = docs_command(argparse.Namespace(dir=str(root), check=check), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_the_committed_pages_are_what_the_code_renders():
    rendered = render(ROOT)
    assert {CONFIGURATION, INDEX, "README.md", *(f"{CHANNELS}/{name}.md" for name in registry())} == set(rendered)
    diffs = []
    for name, wanted in sorted(rendered.items()):
        committed = ROOT / name
        have = committed.read_text() if committed.exists() else ""
        if have != wanted:
            diffs.append("".join(difflib.unified_diff(have.splitlines(keepends=True), wanted.splitlines(keepends=True),
                                                      f"{name} (committed)", f"{name} (rendered)")))
    generated = {str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md") if p.read_text().startswith(MARK)}
    diffs += [f"{name}: committed, but nothing renders it any more\n" for name in sorted(generated - set(rendered))]
    if diffs:
        pytest.fail(f"{len(diffs)} page(s) differ from what the code renders; run `{COMMAND}` in the checkout and "
                    f"commit the result:\n" + "\n".join(diffs), pytrace=False)


def test_every_channel_has_a_hand_written_intro_with_a_title():
    for name in registry():
        intro = ROOT / intro_of(f"{CHANNELS}/{name}.md")
        assert intro.exists(), f"write {intro.relative_to(ROOT)} (its first line is the page's title)"
        assert intro.read_text().startswith("# "), intro
        page = ROOT / CHANNELS / f"{name}.md"
        title, prose = intro.read_text().strip().split("\n", 1)
        assert len(prose.splitlines()) > 5 and f"\n{title}\n" in page.read_text() and prose.strip() in page.read_text()


def test_every_setting_has_a_description():
    missing = [f"{model.__name__}.{name}" for model in known_sections() for name, field in model.model_fields.items()
               if model.__module__.split(".")[0] in PROJECT and len((field.description or "").strip()) < 3]
    assert missing == [], f"give these a Field(description=...): {', '.join(missing)}"


def test_every_settings_model_of_the_project_has_a_section_on_the_configuration_page():
    documented = {owner.model for owner in owners(registry().values())}
    models = {model for model in known_sections() if model.__module__.split(".")[0] in PROJECT}
    assert models <= documented, models - documented
    page = ROOT / CONFIGURATION
    assert headings(page, 2) == [owner.heading.replace("`", "") for owner in owners(registry().values())]
    assert {"runtime", "gateway", *(f"channel-{name}" for name in registry())} <= anchors(page)


def spec(name: str, **fields) -> ChannelSpec:
    return ChannelSpec(name=name, summary=f"{name} messages to a desk", address="a desk id", check_address=str,
                       provider=f"tidings_{name}.provider:Provider", **fields)


class FaxSettings(BaseModel):  # what the renderer reads of a settings model (a Section would register itself)
    fax_line: str = Field("+14155550100", description="the line faxes go out on")
    fax_token: str | None = Field(None, description="the service's token")


def test_a_new_channel_gets_its_page_its_index_row_and_its_settings(tmp_path):
    root = checkout_copy(tmp_path)
    (root / "docs" / "channels" / "fax.intro.md").write_text("# Fax\n\nHow faxes are sent, by hand.\n")
    fax = spec("fax", parts=(TemplatePart("cover", "one_line"), TemplatePart("pages", "html")),
               providers=("fax-http",), settings=FaxSettings, retry_tiers="1m,1h", compose_profile="fax")
    pages = render(root, [*registry().values(), fax])
    page = pages[f"{CHANNELS}/fax.md"]
    assert page.startswith(MARK) and "\n# Fax\n" in page and "How faxes are sent, by hand." in page
    assert "Fax messages to a desk." in page
    assert "| template parts | `cover`: one line (line breaks become one space); `pages`: HTML, data HTML-escaped |" in page
    assert "| gateway scope | `send:fax` |" in page and "`fax-http`" in page
    assert "| declared in | the `tidings_fax` package (entry-point group `tidings.channels`)" in page
    assert "`1m,1h` (this channel's default); `TIDINGS_RETRY_TIERS_FAX` overrides it" in page
    assert "only with `docker compose --profile fax up`" in page
    assert "| `TIDINGS_FAX_LINE` | `+14155550100` | text | the line faxes go out on |" in page
    assert "| `TIDINGS_FAX_TOKEN` | unset | text | the service's token |" in page
    assert "| [fax](fax.md) | fax messages to a desk | a desk id | `cover` (one line), `pages` (html) | any JSON object | " \
           "not declared | `send:fax` |" in pages[INDEX]
    assert "| failure classes | see [Failure classes](#failure-classes) below |" in page
    assert "| `internal_error` | transient |" in page and "`target_refused`" not in page  # no HTTP kit declared
    assert "the channel declares no error classes of its own" in page
    assert "## Channel `fax`" in pages[CONFIGURATION] and "`TIDINGS_FAX_TOKEN`" in pages[CONFIGURATION]


def test_a_channels_failures_show_in_its_index_row_and_on_its_page(tmp_path):
    fax = spec("fax", http_kit=True, failures=(
        Failure("fax_busy", "transient", "the line is busy"), Failure("fax_http_<status>", "transient", "5xx"),
        Failure("fax_http_<status>", "permanent", "any other refusal"), Failure("fax_gone", "permanent", "no such desk")))
    pages = render(checkout_copy(tmp_path), [fax])
    assert "| `fax_busy` ↻, `fax_http_<status>` ↻, `fax_gone`, the HTTP kit's | `send:fax` |" in pages[INDEX]
    assert "Every channel may also end with `internal_error`" in pages[INDEX] and "`redirect_refused`" in pages[INDEX]
    page = pages[f"{CHANNELS}/fax.md"]
    assert "| `fax_http_<status>` | permanent | any other refusal |" in page
    assert "| `redirect_refused` | permanent |" in page and "outbound HTTP kit](../outbound-http.md)'s" in page


def test_a_channel_without_an_intro_gets_its_spec_paragraph(tmp_path):
    page = render(checkout_copy(tmp_path), [spec("pigeon", docs="Carried by birds.")])[f"{CHANNELS}/pigeon.md"]
    assert "\n# The `pigeon` channel\n" in page and "Carried by birds." in page


def test_a_spec_field_change_changes_the_pages():
    """The registry really is the input (a renderer that ignored it would pass the checks above)."""
    base = render(ROOT)
    first, *others = registry().values()
    changed = render(ROOT, [dataclasses.replace(first, summary="something else entirely", retry_tiers="3s"), *others])
    page = f"{CHANNELS}/{first.name}.md"
    assert "Something else entirely." in changed[page] and "`3s` (this channel's default)" in changed[page]
    assert changed[INDEX] != base[INDEX]


def test_links_in_descriptions_are_relative_to_the_page_they_land_on():
    configuration, channel_page = render(ROOT)[CONFIGURATION], render(ROOT)[f"{CHANNELS}/webhook.md"]
    assert "[Delivery semantics](operations.md#delivery-semantics)" in configuration
    assert "](../configuration.md)" in channel_page and "](configuration.md)" not in channel_page


def test_check_names_the_command_and_render_rewrites_and_removes_what_it_generated(tmp_path):
    root = checkout_copy(tmp_path)
    code, out, _ = run(root, check=False)
    assert code == 0 and f"{CONFIGURATION}: written" in out
    assert run(root, check=True)[0] == 0

    sms = root / CHANNELS / "sms.md"
    sms.write_text(sms.read_text().replace("| `send:sms` |", "| `send:everything` |"))
    (root / CHANNELS / "pigeon.md").write_text((root / INDEX).read_text())  # a channel since removed
    hand_written = root / "docs" / "operations.md"
    hand_written.write_text("# hand-written\n")
    code, out, err = run(root, check=True)
    assert code == 1
    assert "-| gateway scope | `send:everything` |" in out and "+| gateway scope | `send:sms` |" in out
    assert f"{CHANNELS}/pigeon.md: generated for a channel that no longer exists" in out
    assert f"2 page(s) out of date; run `{COMMAND}`" in err

    code, out, _ = run(root, check=False)
    assert code == 0 and f"{CHANNELS}/sms.md: updated" in out and f"{INDEX}: unchanged" in out
    assert not (root / CHANNELS / "pigeon.md").exists() and hand_written.read_text() == "# hand-written\n"
    assert run(root, check=True)[0] == 0


def test_the_command_line_verb_checks_the_checkout():
    from tests.cli.run import tidings

    result = tidings(None, "docs", "render", str(ROOT), "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert tidings(None, "docs", "render", str(ROOT / "no-such-dir")).returncode == 2


def test_the_readme_carries_the_channel_table_with_links_from_where_it_is():
    readme = render(ROOT)["README.md"]
    table = readme.split("<!-- channel table: generated by `tidings docs render .` -->", 1)[1]
    for name in registry():
        assert f"| [{name}](docs/channels/{name}.md) |" in table
    assert "](docs/outbound-http.md)" in table and "](../outbound-http.md)" not in table
    assert readme.startswith("# Tidings") and readme.count("## Documentation") == 1  # the rest kept
