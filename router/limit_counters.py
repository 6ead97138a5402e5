"""Where rate-limit counters live: Postgres (`rate_limit_counters`, shared by every router and kept
across restarts and rebalances) or, without a database, this process's memory.

A batch of decisions is one transaction: the counter rows it may touch are locked, read, decided
on in order, and the increments written back, so two routers never both take the last slot."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

import psycopg

from router.in_memory import Pruned
from router.rate_limits import RateLimits, Verdict, Window


class MemoryCounters:
    def __init__(self, limits: RateLimits, prune_floor: int = 100_000):
        self.limits = limits
        self.counts: Pruned[Window, int] = Pruned(prune_floor)
        self._lock = threading.Lock()

    def decide(self, messages: list[dict], now: datetime) -> list[Verdict]:
        with self._lock:
            verdicts = [self.limits.decide(m, now, self.counts.entries) for m in messages]
            horizon = self.limits.horizon(now)
            self.counts.prune(lambda window, _: window[1] >= horizon)
            return verdicts


class PostgresCounters:
    PRUNE_EVERY = timedelta(hours=1)

    def __init__(self, conn: psycopg.Connection, limits: RateLimits):
        self.conn = conn
        self.limits = limits
        self.pruned_at: datetime | None = None

    def decide(self, messages: list[dict], now: datetime) -> list[Verdict]:
        windows = sorted({w for m in messages if m["priority"].lower() not in self.limits.exempt
                          for w in self.limits.windows(m, now)})
        if not windows:
            return [self.limits.decide(m, now, {}) for m in messages]
        counters, starts = [w[0] for w in windows], [w[1] for w in windows]
        with self.conn.transaction():
            self.conn.execute(
                "INSERT INTO rate_limit_counters (counter, window_start)"
                " SELECT * FROM unnest(%b::text[], %b::timestamptz[]) ON CONFLICT DO NOTHING", [counters, starts])
            rows = self.conn.execute(
                "SELECT c.counter, c.window_start, c.count FROM rate_limit_counters c"
                " JOIN unnest(%b::text[], %b::timestamptz[]) AS w(counter, window_start) USING (counter, window_start)"
                " ORDER BY c.counter, c.window_start FOR UPDATE OF c", [counters, starts]).fetchall()
            counts: dict[Window, int] = {(c, s): n for c, s, n in rows}
            before = dict(counts)
            verdicts = [self.limits.decide(m, now, counts) for m in messages]
            changed = [(w, n - before.get(w, 0)) for w, n in counts.items() if n != before.get(w, 0)]
            if changed:
                # Additive: a window read here is locked; one a deferral reached beyond them is not.
                self.conn.execute(
                    "INSERT INTO rate_limit_counters AS c (counter, window_start, count)"
                    " SELECT * FROM unnest(%b::text[], %b::timestamptz[], %b::int[])"
                    " ON CONFLICT (counter, window_start) DO UPDATE SET count = c.count + EXCLUDED.count",
                    [[w[0] for w, _ in changed], [w[1] for w, _ in changed], [d for _, d in changed]])
            self._prune(now)
        return verdicts

    def _prune(self, now: datetime) -> None:
        if self.pruned_at is None or now - self.pruned_at >= self.PRUNE_EVERY:
            self.conn.execute("DELETE FROM rate_limit_counters WHERE window_start < %s", [self.limits.horizon(now)])
            self.pruned_at = now
