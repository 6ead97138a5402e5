"""`tidings templates push | list | show | render` against a real Postgres, from files on disk."""
from __future__ import annotations

import json

import psycopg

from consumer.settings import Settings
from tests.cli.run import tidings


def write_template(root, name: str, files: dict[str, str], meta: dict | None = None):
    directory = root / name
    directory.mkdir(parents=True)
    for filename, text in files.items():
        (directory / filename).write_text(text)
    if meta is not None:
        (directory / "template.json").write_text(json.dumps(meta))


def stored(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT name, version FROM templates ORDER BY name, version").fetchall()


def test_push_list_show_and_render(database_url, tmp_path):
    settings = Settings(database_url=database_url)
    write_template(tmp_path / "t", "invoice", {
        "email.subject.j2": "Invoice {{ invoice.number }}\n",
        "email.subject.pt-BR.j2": "Fatura {{ invoice.number }}",
        "email.html.j2": "<p>Total: {{ invoice.total }}</p>",
        "slack.blocks.j2": '[{"type": "section", "text": {"type": "mrkdwn", "text": {{ invoice.number|tojson }}}}]',
    }, {"description": "the monthly invoice", "sample": {"invoice": {"number": "INV-1", "total": 3}}})
    write_template(tmp_path / "t", "welcome", {"sms.text.j2": "Welcome {{ name }}"}, {"sample": {"name": "Ada"}})

    pushed = tidings(settings, "templates", "push", str(tmp_path / "t"))
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.splitlines() == ["invoice: version 1 (new version)", "welcome: version 1 (new version)"]
    (tmp_path / "t" / "welcome" / "sms.text.j2").write_text("Welcome aboard, {{ name }}")
    again = tidings(settings, "templates", "push", str(tmp_path / "t"))
    assert again.stdout.splitlines() == ["invoice: version 1 (unchanged)", "welcome: version 2 (new version)"]
    assert stored(database_url) == [("invoice", 1), ("welcome", 1), ("welcome", 2)]

    listing = json.loads(tidings(settings, "templates", "list", "--json").stdout)
    assert [(r["name"], r["latest_version"], r["versions"], r["channels"]) for r in listing] == [
        ("invoice", 1, 1, ["email", "slack"]), ("welcome", 2, 2, ["sms"])]
    assert "invoice" in tidings(settings, "templates", "list").stdout

    shown = json.loads(tidings(settings, "templates", "show", "welcome", "--version", "1").stdout)
    assert shown["version"] == 1 and shown["parts"] == {"sms": {"default": {"text": "Welcome {{ name }}"}}}

    preview = tidings(settings, "templates", "render", "invoice", "--channel", "email", "--locale", "pt-BR",
                      "--data", '{"invoice": {"number": "INV-9", "total": "<b>5</b>"}}')
    assert preview.returncode == 0, preview.stderr
    assert json.loads(preview.stdout)["parts"] == {"subject": "Fatura INV-9", "html": "<p>Total: &lt;b&gt;5&lt;/b&gt;</p>"}
    blocks = json.loads(tidings(settings, "templates", "render", "invoice", "--channel", "slack").stdout)
    assert blocks["parts"]["blocks"][0]["text"]["text"] == "INV-1"  # the sample data by default

    missing = tidings(settings, "templates", "render", "invoice", "--channel", "email", "--data", "{}")
    assert missing.returncode == 1 and "missing_variable" in missing.stderr and "invoice" in missing.stderr
    assert tidings(settings, "templates", "show", "nope").returncode == 1

    retired = tidings(settings, "templates", "delete", "welcome")
    assert retired.returncode == 0 and "retired welcome" in retired.stdout
    assert tidings(settings, "templates", "delete", "welcome").returncode == 1
    assert [r["name"] for r in json.loads(tidings(settings, "templates", "list", "--json").stdout)] == ["invoice"]


def test_an_invalid_template_is_rejected_with_file_line_and_reason_and_nothing_is_stored(database_url, tmp_path):
    settings = Settings(database_url=database_url)
    write_template(tmp_path / "t", "good", {"sms.text.j2": "Hello {{ name }}"}, {"sample": {"name": "Ada"}})
    write_template(tmp_path / "t", "bad", {
        "email.subject.j2": "Hello",
        "email.html.j2": "<p>\n{% if name %}\n{{ name }}\n",  # unclosed block
        "sms.text.j2": "first\nsecond {{ account.balance }}",  # not in the sample data
        "webhook.body.j2": "{{ ''.__class__.__mro__ }}",
    }, {"sample": {"name": "Ada"}})

    result = tidings(settings, "templates", "push", str(tmp_path / "t"))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    bad = tmp_path / "t" / "bad"
    assert any(line.startswith(f"{bad / 'email.html.j2'}:") and "syntax_error" in line for line in lines), lines
    assert any(line.startswith(f"{bad / 'sms.text.j2'}:2: missing_variable") and "account" in line for line in lines)
    assert any(line.startswith(f"{bad / 'webhook.body.j2'}:1: sandbox_violation") for line in lines)
    assert "nothing was stored" in lines[-1]
    assert stored(database_url) == []

    (tmp_path / "t" / "good" / "email.oops.j2").write_text("x")
    odd = tidings(settings, "templates", "push", str(tmp_path / "t" / "good"))  # DIR may be one template
    assert odd.returncode == 1 and "unknown_part" in odd.stderr and "email.oops.j2" in odd.stderr
    assert tidings(settings, "templates", "push", str(tmp_path / "absent")).returncode == 1
    assert stored(database_url) == []


def test_without_a_database_the_commands_say_so():
    result = tidings(None, "templates", "list", TIDINGS_DATABASE_URL="")
    assert result.returncode == 2 and "TIDINGS_DATABASE_URL" in result.stderr


def test_templates_that_outgrow_the_limits_are_rejected_with_the_reason(database_url, tmp_path):
    settings = Settings(database_url=database_url)
    write_template(tmp_path / "t", "bomb", {
        "email.subject.j2": "{{ '%400000000s'|format(name) }}",
        "email.text.j2": "{{ '{:{}}'.format(name, width) }}",
        "sms.text.j2": "{% for a in name * 1000 %}{% for b in name * 1000 %}{% endfor %}{% endfor %}done",
        "webhook.body.j2": "{{ (name * 10000)|replace('A', name * 10000)|tojson }}",
    }, {"sample": {"name": "Ada", "width": "400000000"}})

    result = tidings(settings, "templates", "push", str(tmp_path / "t"), TIDINGS_TEMPLATE_MAX_RENDER_S="0.5")
    assert result.returncode == 1
    bomb, lines = tmp_path / "t" / "bomb", result.stderr.splitlines()
    assert f"{bomb / 'email.subject.j2'}:1: output_too_large: a format width or precision would be about " \
           "400,000,000 characters, over the 262,144-byte output cap" in lines, lines
    assert any(line.startswith(f"{bomb / 'email.text.j2'}:1: output_too_large: a format") for line in lines)
    assert any(line.startswith(f"{bomb / 'sms.text.j2'}:1: render_too_slow: rendering took longer than 0.5 s")
               for line in lines)
    assert any(line.startswith(f"{bomb / 'webhook.body.j2'}:1: output_too_large: |replace") for line in lines)
    assert lines[-1] == "tidings: 4 error(s); nothing was stored"
    assert stored(database_url) == []
