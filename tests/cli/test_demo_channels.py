"""`tidings demo --channels`: the router, one worker per chosen channel and the sink against local
fakes of the services; every channel delivers its share, and what the demo cannot run is refused
(exit 2) before anything is started. The broker and Postgres are the tests' own, to keep it fast."""
import json
import os
import subprocess
import sys
import uuid

from tests.cli.test_demo import leftovers

CHANNELS = ["webhook", "teams", "discord", "telegram", "push", "apprise"]


def demo(*args: str, env: dict[str, str], code: str = "") -> subprocess.CompletedProcess:
    run = f"{code}\nfrom cli.main import main\nsys.exit(main({['demo', *args]!r}))"
    return subprocess.run([sys.executable, "-c", f"import sys\n{run}"], capture_output=True, text=True, env=env,
                          timeout=120)


def test_every_chosen_channel_delivers_its_share(kafka_bootstrap, database_url):
    mark = uuid.uuid4().hex
    env = {**os.environ, "TIDINGS_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "TIDINGS_DATABASE_URL": database_url, "TIDINGS_TEST_DEMO_MARK": mark}
    result = demo("--events", "40", "--channels", ",".join(CHANNELS), "--json", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["published"] == summary["delivered"] == summary["received_distinct"] == 40
    assert summary["complete"] and summary["failed"] == 0
    shares = {channel: 7 if i < 4 else 6 for i, channel in enumerate(CHANNELS)}  # 40 notifications in turn
    assert summary["channels"] == {channel: {"published": share, "delivered": share, "failed": 0, "received": share}
                                   for channel, share in shares.items()}
    assert leftovers(mark) == {}


def test_what_the_demo_cannot_run_is_refused_before_anything_starts():
    env = dict(os.environ)
    for channels, said in (("nosuch", "no channel 'nosuch'"), ("webhook,email", "email has no local fake"),
                           ("", "names no channel")):
        result = demo("--channels", channels, env=env)
        assert result.returncode == 2 and said in result.stderr, (channels, result.stderr[-2000:])
        assert "webhook, teams, discord, telegram, push, apprise, slack or all" in result.stderr
    # apprise's extra not installed: the blocker makes `import apprise` fail as it would without it
    blocker = """
class WithoutApprise:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "apprise":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, WithoutApprise())"""
    result = demo("--channels", "webhook,apprise", env=env, code=blocker)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [
        "tidings demo: the apprise channel needs apprise, which is not installed: pip install 'tidings[apprise]'"]
