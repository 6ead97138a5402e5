"""`tidings publish`: JSON lines onto the right priority topics; bad lines named, not published."""
import json

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
