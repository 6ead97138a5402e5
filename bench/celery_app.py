"""The end-to-end benchmark's Celery peer, worker side: one task that POSTs a notification to its
webhook address, run by `celery -A bench.celery_app worker` (started by bench/celery_peer.py).

Set up as a careful Celery user would for webhooks: acks_late (a message is acknowledged after the
POST, so a worker killed mid-task redelivers it), task_reject_on_worker_lost, prefetch multiplier 1
(with acks_late, a larger one lets a worker sit on messages others could take), retries with
backoff on connection errors, timeouts and 5xx/429, and a keep-alive requests.Session per pool
process. It does less than Tidings' webhook worker: no result backend and no delivery record (Tidings
writes a delivery event per attempt, recorded in Postgres), no signing, SSRF guard, rate limits,
circuit breaker or dead letters."""
from __future__ import annotations

import json
import os
import uuid

import requests
from celery import Celery

# The peer's own Redis database: bench/celery_peer.py passes its URL to the worker with -b.
DEFAULT_BROKER = "redis://127.0.0.1:6379/15"


class ReceiverUnavailable(Exception):
    """The receiver answered 5xx or 429: worth another attempt, as Tidings' classify_http says."""


# A session per process: the pool forks, and a session's connections must not be shared across forks.
_sessions: dict[int, requests.Session] = {}


def _session() -> requests.Session:
    return _sessions.get(os.getpid()) or _sessions.setdefault(os.getpid(), requests.Session())


def webhook_body(notification: dict) -> dict:
    """Roughly the body Tidings' webhook channel sends by default (channels/webhook/request.py, payload)."""
    content = notification["content"]["webhook"]
    return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{notification['id']}/webhook")),
            "notification_id": notification["id"], "channel": "webhook",
            "priority": notification["priority"].lower(), "created_at": notification["created_at"],
            "source": notification["source"], "tenant": notification["tenant"],
            "category": notification["category"], "recipient_id": notification["recipient"]["id"],
            "subject": content["subject"], "text": content["text"], "html": content["html"],
            "template": content["template"], "data": json.loads(notification["data"] or "{}"),
            "expires_at": notification["expires_at"], "attempt": 1, "replay": 0}


def deliver(notification: dict) -> None:
    """POST one notification to its webhook address; a 4xx other than 429 is final (not retried)."""
    body = webhook_body(notification)
    answer = _session().post(notification["recipient"]["addresses"]["webhook"], json=body, timeout=(5, 10),
                             headers={"Idempotency-Key": body["id"]})
    if answer.status_code >= 500 or answer.status_code == 429:
        raise ReceiverUnavailable(f"the receiver answered {answer.status_code}")


def make_app(broker_url: str) -> Celery:
    """An app of its own for each broker: an app's connection pools keep the URL they first saw."""
    app = Celery("tidings_bench_peer", broker=broker_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    app.task(name="deliver", acks_late=True,
             autoretry_for=(requests.ConnectionError, requests.Timeout, ReceiverUnavailable),
             retry_backoff=True, retry_backoff_max=60, retry_jitter=True, max_retries=5)(deliver)
    return app


# What `celery -A bench.celery_app worker` runs.
app = make_app(DEFAULT_BROKER)
