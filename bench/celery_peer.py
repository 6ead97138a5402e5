"""The end-to-end benchmark's peer: the same webhook notifications delivered to the same receiver by a
Celery worker on Redis (bench/celery_app.py: acks_late, prefetch 1, retries; 2 prefork processes).

Throughput: N notifications queued at once (`deliver.delay` each), from the first publish
until the receiver has counted them all. CPU per notification: the worker's main and pool processes
(from /proc), Redis (its INFO cpu, the whole server) and the publishing process (its process time
while publishing), each and in total; the receiver's own CPU is left out, as it is the same for both.

Redis: TIDINGS_BENCH_REDIS_URL, else database 15 of the local server on 127.0.0.1:6379, else a
redis-server started here on a free port. Only that database is flushed, before and after.

  python -m bench.celery_peer [--events 5000]"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from bench.machine import child_pids, cpu_seconds, peak_rss_mb
from bench.receiver import ReceiverProcess
from bench.testbed import notification, wait_for
from cli.embedded import free_port

LOCAL_REDIS = "redis://127.0.0.1:6379/15"
CONCURRENCY = 2


def peer(receiver: ReceiverProcess, count: int, first: int = 0, prefetch_multiplier: int = 1) -> dict:
    """Deliver notifications first..first+count-1 to the receiver through Celery and measure. The
    receiver may already hold other arrivals (ids are random UUIDs, so none are counted twice)."""
    from bench.celery_app import make_app  # celery is a bench extra: needed only when this runs

    events = [json_ready(notification(i, receiver.url)) for i in range(first, first + count)]
    with _redis() as (url, redis), make_app(url) as app, _worker(app, url, prefetch_multiplier) as worker:
        deliver = app.tasks["deliver"]
        target = receiver.count() + count
        worker_cpu, redis_cpu = _worker_cpu(worker.pid), _redis_cpu(redis)
        started, publisher_cpu = time.monotonic(), time.process_time()
        for event in events:
            deliver.delay(event)
        publisher_cpu = time.process_time() - publisher_cpu
        done = wait_for(lambda: receiver.count() >= target, "every Celery delivery", timeout=120 + count / 10,
                        children=[worker])
        worker_cpu, redis_cpu = _worker_cpu(worker.pid) - worker_cpu, _redis_cpu(redis) - redis_cpu
        worker_rss = sum(peak_rss_mb(pid) for pid in [worker.pid, *child_pids(worker.pid)])
    per_notification = lambda seconds: round(seconds / count * 1e6, 1)  # noqa: E731
    return {"celery_notifications": count, "celery_per_s": round(count / (done - started), 1),
            "celery_cpu_us": per_notification(worker_cpu + redis_cpu + publisher_cpu),
            "celery_worker_cpu_us": per_notification(worker_cpu),
            "celery_redis_cpu_us": per_notification(redis_cpu),
            "celery_publisher_cpu_us": per_notification(publisher_cpu),
            "celery_worker_rss_mb": round(worker_rss, 1)}


def json_ready(event: dict) -> dict:
    """The notification as Celery's JSON serializer takes it (created_at an ISO string)."""
    return {**event, "created_at": event["created_at"].isoformat()}


def _worker_cpu(pid: int) -> float:
    """The worker's main process, its pool processes, and any pool process already replaced."""
    return cpu_seconds(pid, reaped_children=True) + sum(cpu_seconds(child) for child in child_pids(pid))


def _redis_cpu(client) -> float:
    cpu = client.info("cpu")
    return cpu["used_cpu_user"] + cpu["used_cpu_sys"]


@contextmanager
def _redis():
    """An empty Redis database (flushed before and after), its URL and a client; see the module's docstring."""
    import redis

    server, url = None, os.environ.get("TIDINGS_BENCH_REDIS_URL") or LOCAL_REDIS
    if "TIDINGS_BENCH_REDIS_URL" not in os.environ and not _answers(url):
        if not shutil.which("redis-server"):
            raise RuntimeError("no Redis for the Celery peer: set TIDINGS_BENCH_REDIS_URL, run one on "
                               "127.0.0.1:6379, or install redis-server")
        port = free_port()
        server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no"], stdout=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/15"
        wait_for(lambda: _answers(url), "redis-server", timeout=30)
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url, client
    finally:
        client.flushdb()
        client.close()
        if server:
            server.terminate()
            server.wait(10)


def _answers(url: str) -> bool:
    import redis

    try:
        with redis.Redis.from_url(url, socket_connect_timeout=0.5) as client:
            return client.ping()
    except redis.RedisError:
        return False


@contextmanager
def _worker(app, url: str, prefetch_multiplier: int):
    """`celery worker` with its prefork pool up and answering a ping. Gossip, mingle and heartbeats
    are off: they keep several workers in step, and here there is one."""
    name = f"bench-peer-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
    workdir = Path(tempfile.mkdtemp(prefix="tidings-celery-"))
    with open(workdir / "worker.log", "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "bench.celery_app", "-b", url, "worker", "-n", name,
             "-c", str(CONCURRENCY), "-P", "prefork", "--prefetch-multiplier", str(prefetch_multiplier),
             "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"],
            stdout=log, stderr=subprocess.STDOUT)
    failed = True
    try:
        wait_for(lambda: len(child_pids(worker.pid)) >= CONCURRENCY
                 and app.control.ping([name], timeout=0.5),
                 "the Celery worker", timeout=60, children=[worker])
        yield worker
        failed = False
    finally:
        worker.terminate()  # a warm shutdown: the pool finishes what it holds
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        if failed:
            print(f"bench: the Celery worker's log is in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--prefetch-multiplier", type=int, default=1,
                        help="messages each pool process may hold unacknowledged (1: the safe setting with acks_late)")
    args = parser.parse_args()
    with ReceiverProcess() as receiver:
        print(json.dumps(peer(receiver, args.events, prefetch_multiplier=args.prefetch_multiplier), indent=2))


if __name__ == "__main__":
    main()
