"""The gateway's dead-letter replays as background jobs: POST /v1/dlq/replay queues one and a
thread of this process runs it (tracking.dead_letter_replay, the same replay as `tidings dlq
replay`); GET /v1/dlq/replays/{id} reads its state from Postgres (dlq_replay_jobs), so every
gateway process answers alike.

The process running a job holds an advisory lock named after it for as long as it runs: a job
still queued or running whose lock nobody holds was interrupted (the process died) and is
reported failed. Its ledger rows stay, so running the replay again re-sends nothing it replayed."""
from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from consumer.isolation import describe
from consumer.json_values import jsonable
from consumer.pacing import Pacer
from tracking.dead_letter_replay import Replay, ReplayLedger
from tracking.dead_letters import DeadLetterFilter

log = logging.getLogger(__name__)

# Jobs one gateway process keeps queued or running at once (each holds a thread and a connection;
# they run one after another anyway, behind the replay lock).
MAX_ACTIVE = 4
MAX_FAILURES_KEPT = 100
PROGRESS_EVERY_S = 0.5
STOP_WAIT_S = 30.0
_JOB_LOCK = "tidings-dlq-replay-job:"
INTERRUPTED = ("interrupted: the gateway process running it stopped; run the replay again (what was "
               "replayed is in the ledger and is skipped)")


class TooManyReplays(RuntimeError):
    pass


@dataclass(frozen=True)
class ReplayRequest:
    selection: DeadLetterFilter
    rate: float | None
    requested_by: str

    def described(self) -> dict[str, Any]:
        s = self.selection
        return jsonable({"channel": s.channel, "error": s.error, "since": s.since, "until": s.until, "rate": self.rate})


class ReplayJobs:
    """The replay jobs of this gateway process."""

    def __init__(self, gateway):
        self.gateway = gateway
        self.stopping = threading.Event()
        self._threads: dict[uuid.UUID, threading.Thread] = {}
        self._guard = threading.Lock()

    def start(self, request: ReplayRequest) -> dict[str, Any]:
        """Record a queued job (its lock taken first, so it never looks interrupted) and start it."""
        with self._guard:
            self._threads = {i: t for i, t in self._threads.items() if t.is_alive()}
            if len(self._threads) >= MAX_ACTIVE or self.stopping.is_set():
                raise TooManyReplays(f"{MAX_ACTIVE} replays are queued or running on this gateway; "
                                     "try again when one has finished")
            job_id = uuid.uuid4()
            conn = psycopg.connect(self.gateway.settings.database_url, autocommit=True)
            try:
                conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [_JOB_LOCK + str(job_id)])
                tenants = sorted(request.selection.tenants) if request.selection.tenants is not None else None
                with conn.cursor(row_factory=dict_row) as cur:
                    row = cur.execute("INSERT INTO dlq_replay_jobs (id, dlq_topic, requested_by, tenants, selection)"
                                      " VALUES (%s, %s, %s, %s, %s) RETURNING *",
                                      [job_id, self.gateway.topics.dlq, request.requested_by, tenants,
                                       Jsonb(request.described())]).fetchone()
            except BaseException:
                conn.close()
                raise
            thread = threading.Thread(target=self._run, args=(conn, job_id, request), daemon=True,
                                      name=f"dlq-replay-{str(job_id)[:8]}")
            self._threads[job_id] = thread
            thread.start()
        return row

    def _run(self, conn: psycopg.Connection, job_id: uuid.UUID, request: ReplayRequest) -> None:
        gateway, progress = self.gateway, Progress(conn, job_id)
        ledger = ReplayLedger(conn)
        try:
            if not ledger.lock(gateway.topics.dlq, stop=self.stopping):
                progress.finish("failed", INTERRUPTED)
                return
            plan = ledger.plan(gateway.topics.dlq, request.selection)
            conn.execute("UPDATE dlq_replay_jobs SET state = 'running', started_at = now(), updated_at = now(),"
                         " matching = %s, skipped_already_replayed = %s, skipped_already_sent = %s,"
                         " skipped_no_original_topic = %s WHERE id = %s",
                         [plan.matching, plan.already_replayed, plan.already_sent, plan.no_origin, job_id])
            replay = Replay(gateway.settings, ledger, gateway.codec, gateway.topics.dlq, gateway.topics.deliveries,
                            request.selection, clock=gateway.clock)
            result = replay.run(gateway.publisher, Pacer(request.rate), advance=progress.advance,
                                stop=self.stopping, on_failure=progress.fail)
            interrupted = result.stopped and self.stopping.is_set()
            progress.finish("failed" if result.failures or result.stopped else "done",
                            INTERRUPTED if interrupted else None)
        except Exception as exc:
            log.exception("dead-letter replay %s failed", job_id)
            try:
                progress.finish("failed", describe(exc))
            except psycopg.Error:  # Postgres is gone: the lock went with it, readers see it interrupted
                pass
        finally:
            conn.close()

    def close(self) -> None:
        """At shutdown: running jobs stop after their current message and say they were interrupted."""
        self.stopping.set()
        deadline = time.monotonic() + STOP_WAIT_S
        for thread in list(self._threads.values()):
            thread.join(max(0.0, deadline - time.monotonic()))


class Progress:
    """A running job's counts, written to its row at most every PROGRESS_EVERY_S (and at the end)."""

    def __init__(self, conn: psycopg.Connection, job_id: uuid.UUID):
        self.conn, self.job_id = conn, job_id
        self.replayed, self.failures = 0, []
        self._written = time.monotonic()

    def advance(self) -> None:
        self.replayed += 1
        self._maybe_write()

    def fail(self, failure: str) -> None:
        self.failures.append(failure)
        self._maybe_write()

    def _maybe_write(self) -> None:
        if time.monotonic() - self._written >= PROGRESS_EVERY_S:
            self._write()

    def _write(self, state: str | None = None, error: str | None = None) -> None:
        done = ", finished_at = now()" if state else ""
        self.conn.execute(f"UPDATE dlq_replay_jobs SET replayed = %s, failed = %s, failures = %s, error = %s,"
                          f" state = coalesce(%s, state), updated_at = now(){done} WHERE id = %s",
                          [self.replayed, len(self.failures), Jsonb(self.failures[:MAX_FAILURES_KEPT]), error,
                           state, self.job_id])
        self._written = time.monotonic()

    def finish(self, state: str, error: str | None = None) -> None:
        self._write(state, error)


def job_status(conn: psycopg.Connection, job_id: uuid.UUID) -> dict[str, Any] | None:
    """A job's row; one queued or running that no process holds is marked failed (interrupted) first."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM dlq_replay_jobs WHERE id = %s", [job_id]).fetchone()
        if row is None or row["state"] not in ("queued", "running"):
            return row
        key = _JOB_LOCK + str(job_id)
        if not cur.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0)) AS free", [key]).fetchone()["free"]:
            return row  # its process is at work
        try:
            return cur.execute("UPDATE dlq_replay_jobs SET state = 'failed', error = %s, finished_at = now(),"
                               " updated_at = now() WHERE id = %s AND state IN ('queued', 'running') RETURNING *",
                               [INTERRUPTED, job_id]).fetchone() \
                or cur.execute("SELECT * FROM dlq_replay_jobs WHERE id = %s", [job_id]).fetchone()
        finally:
            cur.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])


def job_json(row: dict[str, Any]) -> dict[str, Any]:
    return jsonable({
        "id": row["id"], "state": row["state"], "dry_run": False, "selection": row["selection"],
        "tenants": row["tenants"] if row["tenants"] is not None else "*", "requested_by": row["requested_by"],
        "matching": row["matching"], "replayed": row["replayed"],
        "skipped_already_replayed": row["skipped_already_replayed"],
        "skipped_already_sent": row["skipped_already_sent"],
        "skipped_no_original_topic": row["skipped_no_original_topic"],
        "failed": row["failed"], "failures": row["failures"], "error": row["error"],
        "created_at": row["created_at"], "started_at": row["started_at"], "finished_at": row["finished_at"]})
