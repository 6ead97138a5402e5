"""The sink and the read side over a big delivery log (issue 21, point 5b): the sink's rows/s into a
log that already holds `--rows` events of the last 30 days (bench.delivery_history) against its rows/s
into an empty log in the same run, and the wall time of `tidings stats --since 24h --by
channel,status,provider,priority` and `tidings status <id>` run as a user runs them (a new CLI
process each time), with the EXPLAIN (ANALYZE, BUFFERS) of their queries.

  python -m bench.sink_scale [--rows 20000000] [--batch-events 50000] [--runs 2] [--out DIR]
  python -m bench.sink_scale --database URL ...   # a log filled before (bench.delivery_history), kept

Each sink run is `tidings run sink` through `--batch-events` fresh events (bench.sink.sink_rate),
after a CHECKPOINT, so both logs start a checkpoint cycle alike (the first change of a page after one
writes the whole page to the WAL). Empty and full alternate, `--runs` times each; medians reported.
The same CLI commands against the empty log give the CLI's own start-up time. Writes
sink_scale.json and sink_scale_plans.txt into --out. The fill takes most of the time (about 12 GB
of database at 20M rows; it is dropped at the end)."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from bench.delivery_history import described, fill
from bench.sink import delivery_events, sink_rate
from bench.testbed import Testbed
from tracking.summary import STATS_SETTINGS, delivery_stats, stats_queries
from tracking.timeline import notification_status, status_queries, timeline

STATS_BY = ("channel", "status", "provider", "priority")
ROOT = Path(__file__).resolve().parent.parent


def checkpoint(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:  # a server where the bench is not superuser
            pass


def cli_seconds(database_url: str, args: list[str], runs: int = 3) -> float:
    """Median wall time of `tidings <args>` as a new process, start-up included. Bytecode is
    written and an untimed run goes first, as an installed CLI has its modules compiled (pip does it
    at install): with PYTHONDONTWRITEBYTECODE set, as in the image's build and on the development
    machines, every run compiled the project's modules again (0.07 s of a 0.48 s `stats`)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"TIDINGS_DATABASE_URL": database_url}
    times = []
    for run in range(runs + 1):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env, capture_output=True)
        if run:
            times.append(time.perf_counter() - started)
        if done.returncode not in (0, 1):  # status: 1 when nothing is recorded (the empty log)
            raise RuntimeError(f"tidings {' '.join(args)} failed: {done.stderr.decode()[-2000:]}")
    return round(statistics.median(times), 3)


def query_seconds(fn, runs: int = 3) -> float:
    """Median time of the read-side call alone, on an open connection."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 3)


def read_side(database_url: str, notification_id: str) -> dict:
    stats = ["stats", "--since", "24h", "--by", ",".join(STATS_BY)]
    with psycopg.connect(database_url) as conn, psycopg.connect(database_url) as beside:  # as the CLI runs it
        return {"stats_cli_s": cli_seconds(database_url, stats),
                "status_cli_s": cli_seconds(database_url, ["status", notification_id]),
                "stats_query_s": query_seconds(lambda: delivery_stats(conn, dt.timedelta(hours=24), STATS_BY,
                                                                      beside=beside)),
                "status_query_s": query_seconds(lambda: (notification_status(conn, notification_id),
                                                         timeline(conn, notification_id)))}


def plans(database_url: str, notification_ids: dict[str, str]) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of each query of `tidings stats` and `tidings status`, as they run."""
    now = dt.datetime.now(dt.timezone.utc)
    queries = {f"stats --since 24h --by {','.join(STATS_BY)}: {name}": query for name, query in zip(
        ("deliveries", "suppressed by reason", "retries by tier"),
        stats_queries(now - dt.timedelta(hours=24), now, STATS_BY))}
    for which, notification_id in notification_ids.items():
        queries |= {f"status {notification_id} ({which}): {name}": query
                    for name, query in zip(("timeline", "notification_status"), status_queries(notification_id))}
    text = []
    with psycopg.connect(database_url) as conn:
        conn.execute(STATS_SETTINGS)  # as delivery_stats runs them (the status queries never reach JIT's threshold)
        for title, (sql, params) in queries.items():
            plan = "\n".join(row[0] for row in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params))
            text.append(f"== {title}\n{sql.strip()}\n\n{plan}\n")
    return "\n".join(text)


def sample_notifications(database_url: str) -> dict[str, str]:
    """A notification of the last day and one of about three weeks ago."""
    with psycopg.connect(database_url) as conn:
        def created_before(age: dt.timedelta) -> str:
            return str(conn.execute("SELECT notification_id FROM deliveries WHERE first_event_at < now() - %s"
                                    " ORDER BY first_event_at DESC LIMIT 1", [age]).fetchone()[0])
        return {"recent": created_before(dt.timedelta(hours=2)), "old": created_before(dt.timedelta(days=21))}


def measure(rows: int = 20_000_000, batch_events: int = 50_000, runs: int = 2, days: int = 30,
            out: Path | None = None, database_url: str | None = None) -> dict:
    """With `database_url`, on that log as it is (no fill; it is kept), else on a fresh one of `rows`."""
    results: dict = {"rows": rows, "batch_events": batch_events}
    with Testbed() as bed:
        if database_url is None:
            full = bed.database()
            started = time.perf_counter()
            results |= fill(full, rows, days, progress=lambda line: print(line, file=sys.stderr))
            results["fill_s"] = round(time.perf_counter() - started, 1)
        else:
            full = database_url
            results |= described(full)
        ids = sample_notifications(full)
        empty_reads = read_side(bed.database(), ids["recent"])
        full_reads = read_side(full, ids["recent"])
        results |= {f"{name}_empty_log": value for name, value in empty_reads.items()}
        results |= full_reads
        results["status_old_cli_s"] = cli_seconds(full, ["status", ids["old"]])
        plan_text = plans(full, ids)
        sinks: dict[str, list[dict]] = {"empty": [], "full": []}
        for _ in range(runs):
            for which in ("empty", "full"):
                url = bed.database() if which == "empty" else full
                checkpoint(url)
                sinks[which].append(sink_rate(bed, delivery_events(batch_events), url))
    for which, measured in sinks.items():
        for figure in ("rows_per_s", "cpu_us_per_event", "postgres_cpu_us_per_event", "blocks_read_per_event"):
            values = [m[figure] for m in measured if m[figure] is not None]
            results[f"sink_{figure}_{which}"] = round(statistics.median(values), 1) if values else None
        results[f"sink_rows_per_s_{which}_runs"] = [round(m["rows_per_s"]) for m in measured]
    results["sink_full_over_empty"] = round(results["sink_rows_per_s_full"] / results["sink_rows_per_s_empty"], 3)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "sink_scale.json").write_text(json.dumps(results, indent=2) + "\n")
        (out / "sink_scale_plans.txt").write_text(plan_text)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--batch-events", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--database", metavar="URL", help="measure on this filled log instead of filling one")
    args = parser.parse_args()
    print(json.dumps(measure(args.rows, args.batch_events, args.runs, args.days, args.out, args.database), indent=2))


if __name__ == "__main__":
    main()
