"""The benchmarks' webhook receiver, run as its own process so it never shares an event loop or
a GIL with what it measures: answers 200 to every POST /hook and keeps the first arrival time of
each notification beside its created_at. GET /arrivals returns them; GET /count how many.

  python -m bench.receiver PORT"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

from aiohttp import web

from cli.embedded import free_port


def app() -> web.Application:
    arrivals: dict[str, tuple[str, float]] = {}

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        arrivals.setdefault(body["notification_id"], (body["created_at"], time.time()))
        return web.json_response({"ok": True})

    async def count(_request: web.Request) -> web.Response:
        return web.json_response({"count": len(arrivals)})

    async def listing(_request: web.Request) -> web.Response:
        return web.json_response({nid: list(pair) for nid, pair in arrivals.items()})

    application = web.Application()
    application.router.add_post("/hook", hook)
    application.router.add_get("/count", count)
    application.router.add_get("/arrivals", listing)
    return application


class ReceiverProcess:
    """Starts `python -m bench.receiver` on a free port and reads what it got."""

    def __enter__(self) -> "ReceiverProcess":
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.process = subprocess.Popen([sys.executable, "-m", "bench.receiver", str(self.port)])
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError("the bench receiver did not start") from None
                time.sleep(0.05)

    def __exit__(self, *exc_info) -> None:
        self.process.terminate()
        self.process.wait(10)

    def _get(self, path: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=30) as response:
            return json.load(response)

    def count(self) -> int:
        return self._get("/count")["count"]

    def arrivals(self) -> dict[str, tuple[str, float]]:
        """notification id -> (created_at as sent, first arrival in epoch seconds)."""
        return self._get("/arrivals")


if __name__ == "__main__":
    web.run_app(app(), host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
