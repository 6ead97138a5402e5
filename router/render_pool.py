"""Renders templates for the router, the gateway and the CLI in a few worker processes
(router/render_worker.py): a render that overruns its budget is stopped by killing its process, so
it never holds an event loop, a lock or another render, and its memory is capped by the worker's."""
from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from router.templates import (DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_MAX_RENDER_S, RenderError, Template, channel_sources,
                              part_name)

log = logging.getLogger(__name__)

_PROJECT_ROOT = str(Path(__file__).resolve().parent.parent)  # where `router` is importable from
_START_TIMEOUT_S = 60.0  # a cold start on a loaded machine imports Jinja2 in well under this
_REQUEST_BYTES = 8 * 1024 * 1024  # one request's contexts and sources (more go in the next request)


class WorkerGone(Exception):
    """The worker process exited, or never said it was ready."""


class _Worker:
    """One worker process, and what was read from it that is not yet a whole line."""

    def __init__(self, command: list[str]):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_PROJECT_ROOT, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, env=env)
        self._unread = bytearray()
        self._poll = select.poll()
        self._poll.register(self.process.stdout.fileno(), select.POLLIN)
        try:
            ready = self.read(_START_TIMEOUT_S)
        except WorkerGone:
            ready = None
        if not (isinstance(ready, dict) and ready.get("ready")):
            self.kill()
            raise WorkerGone(f"the render worker did not start (exit code {self.process.returncode})")

    def send(self, line: str) -> None:
        data = memoryview(line.encode() + b"\n")
        try:
            while data:
                data = data[os.write(self.process.stdin.fileno(), data):]
        except OSError as exc:  # BrokenPipeError: it exited
            raise WorkerGone(f"the render worker exited ({exc})") from None

    def read(self, timeout_s: float) -> dict | None:
        """The next line as JSON; None if none came within `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while (end := self._unread.find(b"\n")) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._poll.poll(remaining * 1000):
                return None
            chunk = os.read(self.process.stdout.fileno(), 1 << 16)
            if not chunk:
                self.process.wait()
                raise WorkerGone(f"the render worker exited with code {self.process.returncode}")
            self._unread += chunk
        line = bytes(self._unread[:end])
        del self._unread[:end + 1]
        return json.loads(line)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._close_pipes()

    def close(self) -> None:
        """Ask it to exit (end of input), then make sure."""
        try:
            self.process.stdin.close()
            self.process.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()

    def _close_pipes(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:
                pass


class RenderPool:
    """Up to `workers` render processes, started when first needed. Each caller (a thread) takes
    one worker for a whole batch of parts; a part that is not answered within its budget (plus a
    grace the worker's own budget check needs) is `render_too_slow`, and its worker is killed and
    replaced. The same interface as router.templates.Renderer."""

    def __init__(self, max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES, max_render_s: float = DEFAULT_MAX_RENDER_S,
                 workers: int = 2, memory_mb: int = 256, command: list[str] | None = None):
        self.max_output_bytes, self.max_render_s = max_output_bytes, max_render_s
        # The worker stops a render itself at the budget; this is for what its checks cannot reach
        # (one long call), with room for compiling a large part the first time (about 1.4 s at 256 kB).
        self.hard_limit_s = 2 * max_render_s + 2.0
        self.command = command or [sys.executable, "-m", "router.render_worker", str(max_output_bytes),
                                   str(max_render_s), str(memory_mb)]
        self._slots = threading.BoundedSemaphore(max(1, workers))
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Any) -> "RenderPool":
        return cls(settings.template_max_output_bytes, settings.template_max_render_s,
                   settings.template_render_workers, settings.template_render_memory_mb)

    def render_part(self, template: Template, channel: str, part: str, locale: str, context: dict) -> Any:
        where = f"{template.name}/{part_name(channel, part, locale)}"
        (outcome,) = self.render_parts([(where, channel, part, template.parts[channel][locale][part], context)])
        if isinstance(outcome, RenderError):
            raise outcome
        return outcome

    def render_channel(self, template: Template, channel: str, locale: str | None, context: dict) -> dict:
        (outcome,) = self.render_many([(template, channel, locale, context)])
        if isinstance(outcome, RenderError):
            raise outcome
        return outcome

    def render_many(self, requests: list[tuple[Template, str, str | None, dict]]) -> list[dict | RenderError]:
        """For each (template, channel, locale, context): {part: rendered} or the first RenderError.
        All parts of all requests go to one worker in one round trip."""
        results: list[dict | RenderError] = []
        jobs, owners = [], []
        for index, (template, channel, locale, context) in enumerate(requests):
            try:
                sources = channel_sources(template, channel, locale)
            except RenderError as exc:
                results.append(exc)
                continue
            results.append({})
            for part, found in sources:
                jobs.append((f"{template.name}/{part_name(channel, part, found)}", channel, part,
                             template.parts[channel][found][part], context))
                owners.append((index, part))
        for (index, part), outcome in zip(owners, self.render_parts(jobs)):
            if isinstance(results[index], dict):
                results[index] = outcome if isinstance(outcome, RenderError) else {**results[index], part: outcome}
        return results

    def render_parts(self, jobs: list[tuple[str, str, str, str, dict]]) -> list[Any]:
        """Each (where, channel, part, source, context) rendered: the value or its RenderError."""
        outcomes: list[Any] = [None] * len(jobs)
        todo = list(range(len(jobs)))
        while todo:
            worker = self._take()
            healthy = False
            try:
                todo, healthy = self._render_on(worker, jobs, todo, outcomes)
            finally:
                self._give_back(worker if healthy else None, kill=worker)
        return outcomes

    def close(self) -> None:
        with self._lock:
            self._closed, idle, self._idle = True, self._idle, []
        for worker in idle:
            worker.close()

    def _take(self) -> _Worker:
        self._slots.acquire()
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            return _Worker(self.command)
        except BaseException:
            self._slots.release()
            raise

    def _give_back(self, worker: _Worker | None, kill: _Worker) -> None:
        try:
            if worker is None:
                kill.kill()
                return
            with self._lock:
                if not self._closed:
                    self._idle.append(worker)
                    return
            worker.close()
        finally:
            self._slots.release()

    def _render_on(self, worker: _Worker, jobs: list, todo: list[int], outcomes: list) -> tuple[list[int], bool]:
        """Send the first of `todo` (as many as fit in one request) to the worker and read its
        answers in order. Returns (todo left, whether the worker is still usable): a part that
        takes too long, or a worker that exits, fails that part and ends the worker."""
        contexts: list[str] = []  # as JSON; a context shared by several parts is sent once
        numbered: dict[int, int] = {}  # id(context) -> its index in contexts
        parts, size = [], 0
        for j in todo:
            where, channel, part, source, context = jobs[j]
            if id(context) not in numbered:
                if parts and size > _REQUEST_BYTES:
                    break
                numbered[id(context)] = len(contexts)
                contexts.append(json.dumps(context, default=str))  # ASCII: lone surrogates in data survive
                size += len(contexts[-1])
            parts.append([where, channel, part, source, numbered[id(context)]])
            size += len(source)
        sent, rest = todo[:len(parts)], todo[len(parts):]
        try:
            worker.send(f'{{"contexts": [{",".join(contexts)}], "parts": {json.dumps(parts)}}}')
        except WorkerGone as exc:
            outcomes[sent[0]] = RenderError("render_error", str(exc), jobs[sent[0]][0])
            return sent[1:] + rest, False
        for position, j in enumerate(sent):
            try:
                reply = worker.read(self.hard_limit_s)
            except WorkerGone as exc:
                outcomes[j] = RenderError("render_error", str(exc), jobs[j][0])
                return sent[position + 1:] + rest, False
            if reply is None:
                log.warning("template part %s overran its %g s budget; restarting its render worker",
                            jobs[j][0], self.max_render_s)
                outcomes[j] = RenderError("render_too_slow", f"rendering took longer than {self.max_render_s:g} s "
                                          "(stopped by restarting its render worker)", jobs[j][0])
                return sent[position + 1:] + rest, False
            outcomes[j] = reply["ok"] if "ok" in reply else RenderError(*reply["error"])
        return rest, True
