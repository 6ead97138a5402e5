"""The router's template cache: pinned versions are immutable and kept; "latest" is re-checked
against Postgres at most every `ttl_s`, so a pushed version is picked up without a restart."""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable

from router.template_store import TemplateStore
from router.templates import RenderError, Template


class TemplateCache:
    def __init__(self, store: TemplateStore, ttl_s: float, max_entries: int = 1000,
                 clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._versions: OrderedDict[tuple[str, int], Template] = OrderedDict()
        self._latest: dict[str, tuple[int, float]] = {}  # name -> (version, checked at)

    def get(self, name: str, version: int | None = None) -> Template:
        """The template, compiled parts included once rendered; RenderError when it does not exist."""
        if version is None:
            version = self._latest_version(name)
        key = (name, version)
        if key in self._versions:
            self._versions.move_to_end(key)
            return self._versions[key]
        template = self.store.get(name, version)
        if template is None:
            raise RenderError("template_not_found", f"no template {name!r} version {version}")
        self._versions[key] = template
        if len(self._versions) > self.max_entries:
            self._versions.popitem(last=False)
        return template

    def _latest_version(self, name: str) -> int:
        now = self.clock()
        known = self._latest.get(name)
        if known is not None and now - known[1] < self.ttl_s:
            return known[0]
        version = self.store.latest_version(name)
        if version is None:
            raise RenderError("template_not_found", f"no template {name!r}")
        self._latest[name] = (version, now)
        return version
