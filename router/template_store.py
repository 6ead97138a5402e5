"""Versioned templates in Postgres (table `templates`), shared by the CLI, the gateway and the
router. A push validates every part against its sample data first and stores all or nothing."""
from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.types.json import Jsonb

from consumer.channel_specs import channel_names
from router.templates import (DEFAULT_LOCALE, RenderError, Renderer, Template, locale_chain,
                              part_name, part_names, template_context)

if TYPE_CHECKING:
    from router.render_pool import RenderPool

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,127}$")
LOCALE = re.compile(r"^(default|[a-z]{2,3}(-[A-Za-z0-9]{2,8})*)$")
_SAMPLE_EVENT = {"id": "00000000-0000-0000-0000-000000000000", "category": "general", "source": "sample",
                 "tenant": "default", "priority": "NORMAL"}

# Serialises pushes, so two at once cannot both create version N+1 of a template.
_PUSH_LOCK = 0x7469_6469_6E67_74  # "tidingt"


class TemplateInvalid(ValueError):
    """One or more templates failed validation; `errors` are RenderErrors (where, line, reason)."""

    def __init__(self, errors: list[RenderError]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


def validate(template: dict, renderer: Renderer | RenderPool) -> list[RenderError]:
    """Every part must compile and render the template's sample data, in every locale."""
    name = template.get("name", "")
    if not isinstance(name, str) or not NAME.match(name):
        return [RenderError("invalid_name", f"template name {name!r} must match {NAME.pattern}", str(name))]
    parts, sample = template.get("parts"), template.get("sample", {})
    if not isinstance(sample, dict):
        return [RenderError("invalid_sample", "sample data must be a JSON object", name)]
    if not isinstance(parts, dict) or not parts:
        return [RenderError("no_parts", "a template needs at least one part", name)]
    errors: list[RenderError] = []
    loaded = Template(name, 0, parts, sample)
    for channel, by_locale in parts.items():
        if channel not in channel_names():
            errors.append(RenderError("unknown_channel", f"{channel!r} is not one of {', '.join(channel_names())}",
                                      name))
            continue
        parts_of_channel = part_names(channel)
        for locale, sources in by_locale.items():
            if not LOCALE.match(locale) or not isinstance(sources, dict):
                errors.append(RenderError("invalid_locale", f"{locale!r} is not a locale like pt-BR", name))
                continue
            if locale != DEFAULT_LOCALE and locale_chain(locale)[0] != locale:
                errors.append(RenderError("invalid_locale", f"write {locale_chain(locale)[0]!r}, not {locale!r}", name))
                continue
            context = template_context(sample, {"id": "sample-recipient", "locale": locale}, _SAMPLE_EVENT)
            for part, source in sources.items():
                where = f"{name}/{part_name(channel, part, locale)}"
                if part not in parts_of_channel or not isinstance(source, str):
                    errors.append(RenderError("unknown_part", f"{channel} parts are {', '.join(parts_of_channel)}",
                                              where))
                    continue
                try:
                    renderer.render_part(loaded, channel, part, locale, context)
                except RenderError as exc:
                    errors.append(exc)
        if DEFAULT_LOCALE not in by_locale and channel in channel_names():
            errors.append(RenderError("no_default_locale", f"{channel} parts need a default locale to fall back to", name))
    return errors


def checksum(template: dict) -> str:
    canonical = json.dumps({k: template.get(k) for k in ("parts", "sample", "description")}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


class TemplateStore:
    """Plain methods over one psycopg connection; inputs and outputs are plain dicts."""

    def __init__(self, conn: psycopg.Connection, renderer: Renderer | RenderPool | None = None):
        self.conn = conn
        # In this process by default; the router, the gateway and the CLI pass their RenderPool.
        self.renderer = renderer or Renderer()

    def push(self, templates: list[dict]) -> list[dict]:
        """Validate all, then store each changed one as its next version in one transaction.
        Returns [{"name", "version", "changed"}]; raises TemplateInvalid and stores nothing."""
        errors = [e for t in templates for e in validate(t, self.renderer)]
        if errors:
            raise TemplateInvalid(errors)
        results = []
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", [_PUSH_LOCK])
            for t in templates:
                digest = checksum(t)
                latest = self.conn.execute(
                    "SELECT version, checksum, retired_at FROM templates WHERE name = %s ORDER BY version DESC LIMIT 1",
                    [t["name"]]).fetchone()
                if latest and latest[1] == digest and latest[2] is None:
                    results.append({"name": t["name"], "version": latest[0], "changed": False})
                    continue
                version = (latest[0] if latest else 0) + 1
                self.conn.execute(
                    "INSERT INTO templates (name, version, parts, sample, description, checksum) "
                    "VALUES (%s, %s, %s, %s, %s, %s)",
                    [t["name"], version, Jsonb(t["parts"]), Jsonb(t.get("sample", {})), t.get("description"), digest])
                results.append({"name": t["name"], "version": version, "changed": True})
        return results

    def list(self) -> list[dict]:
        rows = self.conn.execute(
            "SELECT DISTINCT ON (name) name, version, description, parts, created_at, "
            "count(*) OVER (PARTITION BY name) FROM templates WHERE retired_at IS NULL "
            "ORDER BY name, version DESC").fetchall()
        return [{"name": name, "latest_version": version, "versions": count, "description": description,
                 "channels": sorted(parts), "updated_at": created_at.isoformat()}
                for name, version, description, parts, created_at, count in rows]

    def show(self, name: str, version: int | None = None) -> dict | None:
        """The stored version (the latest not retired when `version` is None) as a dict, or None."""
        row = self.conn.execute(
            "SELECT name, version, parts, sample, description, checksum, created_at FROM templates "
            "WHERE name = %s AND (%s::int IS NULL AND retired_at IS NULL OR version = %s::int) "
            "ORDER BY version DESC LIMIT 1",
            [name, version, version]).fetchone()
        if row is None:
            return None
        keys = ("name", "version", "parts", "sample", "description", "checksum", "created_at")
        out: dict[str, Any] = dict(zip(keys, row))
        out["created_at"] = out["created_at"].isoformat()
        return out

    def get(self, name: str, version: int | None = None) -> Template | None:
        found = self.show(name, version)
        if found is None:
            return None
        return Template(found["name"], found["version"], found["parts"], found["sample"], found["description"])

    def latest_version(self, name: str) -> int | None:
        row = self.conn.execute("SELECT max(version) FROM templates WHERE name = %s AND retired_at IS NULL",
                                [name]).fetchone()
        return row[0]

    def retire(self, name: str) -> int:
        """Delete a template: "latest" and the listing no longer find it; pinned versions still
        render. Returns how many versions were retired (0: no such template)."""
        return self.conn.execute("UPDATE templates SET retired_at = now() WHERE name = %s AND retired_at IS NULL",
                                 [name]).rowcount
