"""The inbox under test: the real pipeline (router, inapp worker, sink as processes) behind the real
gateway (the `inbox` fixture, tests/gateway/conftest.py), with feed tokens signed here as a
product's backend would sign them, and a live-stream client."""
from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import jwt

from consumer.events import utcnow

ACME_KEY = "acme-inbox-key-with-at-least-32-bytes!"
GLOBEX_KEY = "globex-inbox-key-with-at-least-32-bytes"
TENANT_KEYS = json.dumps({"acme": ACME_KEY, "globex": GLOBEX_KEY})


def feed_token(recipient: str, tenant: str = "acme", key: str | None = None, lifetime_s: float = 3600) -> str:
    """What the product's backend mints for its signed-in user."""
    key = key or {"acme": ACME_KEY, "globex": GLOBEX_KEY}[tenant]
    return jwt.encode({"sub": recipient, "tenant": tenant,
                       "exp": datetime.now(timezone.utc) + timedelta(seconds=lifetime_s)}, key, algorithm="HS256")


def inbox_notification(recipient: str, tenant: str = "acme", title: str = "Build finished",
                       text: str = "v42 is live", category: str = "deploys", **options) -> dict:
    return {"id": str(uuid.uuid4()), "created_at": utcnow(), "priority": "NORMAL", "source": "tests",
            "tenant": tenant, "category": category, "channels": ["inapp"],
            "recipient": {"id": recipient, "addresses": {}, "email": None, "phone": None, "slack": None,
                          "webhook_url": None, "locale": None},
            "content": {"default": {"template": None, "subject": title, "text": text, "html": None,
                                    "options": json.dumps(options)}},
            "data": "{}", "expires_at": None, "idempotency_key": None}


class Feed:
    """A recipient's side of the feed API."""

    def __init__(self, base: str, token: str):
        self.http = httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"})

    def items(self, **params) -> dict:
        answer = self.http.get("/v1/inbox/items", params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def counts(self) -> dict:
        return self.http.get("/v1/inbox/counts").json()

    def mark(self, item_id: str, state: str) -> httpx.Response:
        return self.http.post(f"/v1/inbox/items/{item_id}/{state}")

    def mark_all(self, state: str) -> httpx.Response:
        return self.http.post(f"/v1/inbox/all/{state}")


class EventStream:
    """A client of /v1/inbox/stream on a thread of its own: each Server-Sent Event (kind, id, data,
    time received) lands in `events`; `ended` is set when the server closes the stream."""

    def __init__(self, base: str, token: str, last_event_id: str | None = None):
        import queue
        import threading

        self.events: queue.Queue = queue.Queue()
        self.status: int | None = None
        self.ended = threading.Event()
        self.opened = threading.Event()
        headers = {"Authorization": f"Bearer {token}"} | ({"Last-Event-ID": last_event_id} if last_event_id else {})
        self.client = httpx.Client(base_url=base, timeout=httpx.Timeout(30, read=None))
        self.thread = threading.Thread(target=self._read, args=(headers,), daemon=True)
        self.thread.start()
        assert self.opened.wait(30), "the stream did not answer"

    def _read(self, headers: dict) -> None:
        try:
            with self.client.stream("GET", "/v1/inbox/stream", headers=headers) as answer:
                self.status = answer.status_code
                self.opened.set()
                kind, event_id, data = "message", None, []
                for line in answer.iter_lines():
                    if line == "":
                        if data:
                            self.events.put((kind, event_id, json.loads("\n".join(data)), time.time()))
                        kind, event_id, data = "message", None, []
                    elif line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("id: "):
                        event_id = line[4:]
                    elif line.startswith("data: "):
                        data.append(line[6:])
        except httpx.HTTPError:
            pass
        finally:
            self.opened.set()
            self.ended.set()

    def next(self, kind: str, timeout: float = 60) -> tuple:
        """The next event of this kind (others before it are passed over)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {kind!r} event in {timeout} s"
            try:
                event = self.events.get(timeout=remaining)
            except Exception:
                raise AssertionError(f"no {kind!r} event in {timeout} s") from None
            if event[0] == kind:
                return event

    def close(self) -> None:
        self.client.close()
        self.thread.join(10)
