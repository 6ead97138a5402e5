"""`tidings publish`: JSON lines or one JSON document onto the right priority topics; bad lines named,
not published."""
import io
import json
import re
import time
from pathlib import Path

from cli.publish import publish_command
from consumer.codec import Codec
from consumer.events import NOTIFICATION
from consumer.topics import Topics
from tests.cli.run import tidings
from tests.pipeline import read_topic

GOOD = {"source": "billing", "channels": ["webhook"], "recipient": {"id": "u1", "webhook_url": "https://example.com/h"}}


def test_valid_lines_are_published_and_invalid_lines_reported(settings, tmp_path):
    lines = [
        json.dumps({**GOOD, "priority": "urgent", "id": "11111111-1111-4111-8111-111111111111"}),
        "{not json",
        "",
        json.dumps({**GOOD, "priority": "whenever"}),
        json.dumps({**GOOD, "priority": "low", "data": {"x": {"y": 1}}}),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = tidings(settings, "publish", str(path))

    assert result.returncode == 1  # some lines were invalid
    assert "line 2: not valid JSON" in result.stderr
    assert "line 4: priority: 'whenever'" in result.stderr
    printed = result.stdout.split()
    assert len(printed) == 2 and "11111111-1111-4111-8111-111111111111" in printed

    codec, names = Codec.from_settings(settings), Topics(settings.topic_prefix)
    urgent = [codec.decode(NOTIFICATION, m.value()) for m in read_topic(settings, names.events("urgent"))]
    low = [codec.decode(NOTIFICATION, m.value()) for m in read_topic(settings, names.events("low"))]
    assert [str(e["id"]) for e in urgent] == ["11111111-1111-4111-8111-111111111111"]
    assert len(low) == 1 and json.loads(low[0]["data"]) == {"x": {"y": 1}} and str(low[0]["id"]) in printed
    assert read_topic(settings, names.events("normal"), idle_s=0.5) == []
    assert read_topic(settings, names.events("high"), idle_s=0.5) == []


def test_publish_from_stdin_all_valid_exits_zero(settings):
    result = tidings(settings, "publish", "-", stdin=json.dumps(GOOD) + "\n" + json.dumps(GOOD) + "\n")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.split()) == 2


def test_missing_file_and_missing_topics_are_clear_errors(settings, tmp_path):
    result = tidings(settings, "publish", str(tmp_path / "nope.jsonl"))
    assert result.returncode == 2 and "cannot read" in result.stderr
    result = tidings(settings, "publish", "-", stdin=json.dumps(GOOD), TIDINGS_TOPIC_PREFIX="not-created")
    assert result.returncode == 2 and "tidings topics create" in result.stderr


def test_control_characters_are_refused_with_the_field_named_and_not_published(settings, tmp_path):
    """A "\\u0000" escape in JSON becomes NUL, which Postgres cannot hold: once, the router and the
    sink stopped on such an event. Refused here with the field, the character and its position."""
    lines = [
        json.dumps({**GOOD, "priority": "urgent", "recipient": {"id": "ab\u0000c"}}),
        json.dumps({**GOOD, "priority": "high", "data": {"user": {"name": "Ada\u0000"}}}),
        json.dumps({**GOOD, "priority": "high", "channels": ["webhook"] * 200}),
        json.dumps({**GOOD, "priority": "low", "content": {"default": {"text": "tab\tand\nlines"}}}),
    ]
    assert "\\u0000" in lines[0]  # the escape, as a producer writes it
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = tidings(settings, "publish", str(path))

    assert result.returncode == 1
    assert "recipient.id: contains a control character (U+0000) at position 3" in result.stderr
    assert "data.user.name: contains a control character (U+0000) at position 4" in result.stderr
    assert "channels: 200 names listed; at most 16" in result.stderr
    assert "\x00" not in result.stderr
    names = Topics(settings.topic_prefix)
    assert read_topic(settings, names.events("urgent"), idle_s=0.5) == []
    assert read_topic(settings, names.events("high"), idle_s=0.5) == []
    [published] = read_topic(settings, names.events("low"))
    assert str(Codec.from_settings(settings).decode(NOTIFICATION, published.value())["id"]) == result.stdout.strip()


def decoded(settings, priority: str, count: int, timeout: float = 60) -> list[dict]:
    """The events on a priority topic once `count` are there (read_topic alone may stop early on a
    busy machine, when the first fetch takes longer than its idle time)."""
    codec, topic, deadline = Codec.from_settings(settings), Topics(settings.topic_prefix).events(priority), None
    while True:
        events = [codec.decode(NOTIFICATION, m.value()) for m in read_topic(settings, topic)]
        deadline = deadline or time.monotonic() + timeout
        if len(events) >= count or time.monotonic() > deadline:
            return events


ROOT = Path(__file__).parents[2]


def json_blocks(page: str, heading: str) -> list[str]:
    """The ```json blocks of one section of a page, exactly as written."""
    text = (ROOT / page).read_text()
    section = text.split(f"{heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```json\n(.*?)```", section, re.S)


def readme_examples() -> list[str]:
    """The examples of docs/publishing.md's "From the command line" section."""
    return json_blocks("docs/publishing.md", "## From the command line")


def test_the_readme_first_notification_publishes_and_status_follows_its_id(settings, tmp_path):
    """The README's first notification, copied into first.jsonl as it says, is published with its id,
    and the `tidings status` line beside it follows that id."""
    [line] = json_blocks("README.md", "## Your first notification")
    [notification_id] = re.findall(r'"id": "([0-9a-f-]{36})"', line)
    readme = (ROOT / "README.md").read_text()
    assert f"tidings status {notification_id}\n" in readme and "tidings publish first.jsonl" in readme
    path = tmp_path / "first.jsonl"
    path.write_text(line)
    result = tidings(settings, "publish", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [notification_id]
    [event] = decoded(settings, "normal", 1)
    assert str(event["id"]) == notification_id and event["channels"] == ["email"]
    assert event["recipient"]["addresses"] == {"email": "ada@example.com"}


def test_the_readme_complete_line_publishes_when_copied_into_a_json_lines_file(settings, tmp_path):
    line = readme_examples()[0]
    [notification_id] = re.findall(r'"id": "([0-9a-f-]{36})"', line)
    path = tmp_path / "events.jsonl"
    path.write_text(line + json.dumps(GOOD) + "\n")  # as the first line of a file of several
    result = tidings(settings, "publish", str(path))
    assert result.returncode == 0, result.stderr
    # Each id is printed as the broker acknowledges it: two topics may answer in either order.
    assert notification_id in result.stdout.split() and len(result.stdout.split()) == 2
    [event] = decoded(settings, "high", 1)
    assert str(event["id"]) == notification_id and event["recipient"]["email"] == "ada@example.com"
    assert json.loads(event["data"])["invoice"]["lines"] == [{"sku": "A", "qty": 1}]


def test_the_readme_document_example_publishes(settings, tmp_path):
    document = readme_examples()[1]
    assert document.count("\n") > 2  # laid out over several lines, as people write them
    path = tmp_path / "events.json"
    path.write_text(document)
    result = tidings(settings, "publish", str(path))
    assert result.returncode == 0, result.stderr
    published = {str(event["id"]): priority
                 for priority in ("normal", "low") for event in decoded(settings, priority, 1)}
    assert sorted(published.values()) == ["low", "normal"] and set(published) == set(result.stdout.split())


def test_a_pretty_printed_array_reports_each_bad_item_with_its_line(settings, tmp_path):
    items = [{**GOOD, "priority": "urgent"}, {**GOOD, "priority": "whenever"}, {"channels": ["webhook"]}]
    path = tmp_path / "events.json"
    path.write_text(json.dumps(items, indent=2))
    result = tidings(settings, "publish", str(path))
    assert result.returncode == 1
    assert "line 13: item 2: priority: 'whenever'" in result.stderr
    assert "line 24: item 3: recipient: expected an object" in result.stderr
    assert len(decoded(settings, "urgent", 1)) == 1 and len(result.stdout.split()) == 1


def test_a_pretty_printed_object_with_a_syntax_error_is_one_error_with_its_line(settings):
    broken = json.dumps({**GOOD, "priority": "urgent"}, indent=2).replace('"billing",', '"billing"', 1)
    result = tidings(settings, "publish", "-", stdin=broken)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == ["line 3: not valid JSON: Expecting ',' delimiter at column 3"]
    assert read_topic(settings, Topics(settings.topic_prefix).events("urgent"), idle_s=0.5) == []


class SlowOutput(io.StringIO):
    """Standard output that takes its time over each write, as a pipe to a busy reader does."""

    def write(self, text: str) -> int:
        time.sleep(0.0002)
        return super().write(text)


def test_every_published_id_is_printed_on_a_line_of_its_own(settings, tmp_path):
    """Delivery reports are served by the publisher's poll thread and by the final flush, at times
    both at once: two ids once came out on one line."""
    count = 400
    path = tmp_path / "events.json"
    path.write_text(json.dumps([{**GOOD, "recipient": {**GOOD["recipient"], "id": f"u{i}"}} for i in range(count)]))
    out, err = SlowOutput(), io.StringIO()
    assert publish_command(str(path), settings, out=out, err=err) == 0, err.getvalue()
    lines = out.getvalue().splitlines()
    assert all(re.fullmatch(r"[0-9a-f-]{36}", line) for line in lines), [x for x in lines if len(x) != 36][:3]
    assert len(lines) == len(set(lines)) == count
