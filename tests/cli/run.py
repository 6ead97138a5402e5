"""Run the real `tidings` command line in a child process against a test's settings."""
from __future__ import annotations

import os
import subprocess
import sys

from consumer.settings import Settings


def tidings(settings: Settings | None, *args: str, stdin: str | None = None, timeout: float = 120,
            **env: str) -> subprocess.CompletedProcess:
    environ = dict(os.environ)
    if settings is not None:
        environ.update({"TIDINGS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
                        "TIDINGS_TOPIC_PREFIX": settings.topic_prefix})
        if settings.database_url:
            environ["TIDINGS_DATABASE_URL"] = settings.database_url
    environ.update(env)
    return subprocess.run([sys.executable, "-m", "cli.main", *args], input=stdin, capture_output=True,
                          text=True, env=environ, timeout=timeout)
