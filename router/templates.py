"""Renders a stored template's parts for one channel and locale, in the router, so a channel
message carries final content. Failures are `RenderError`s: permanent, never half-rendered."""
from __future__ import annotations

import json
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from jinja2 import TemplateSyntaxError, UndefinedError
from jinja2 import Template as Compiled
from jinja2.sandbox import SecurityError

from consumer.channel_specs import TemplatePart, spec_of
from router.sandbox import ESCAPINGS, OutputTooLarge, RenderTooSlow, TemplateSandbox

DEFAULT_LOCALE = "default"
DEFAULT_MAX_OUTPUT_BYTES = 256 * 1024
DEFAULT_MAX_RENDER_S = 1.0
_LINE_BREAKS = re.compile(r"[\r\n]+")


class RenderError(Exception):
    """kind: syntax_error | missing_variable | sandbox_violation | output_too_large | render_too_slow
    | template_too_large | invalid_json | template_not_found | no_parts | render_error; `where` names the
    part (channel.part[.locale]), `line` its line."""

    def __init__(self, kind: str, detail: str, where: str = "", line: int | None = None):
        self.kind, self.detail, self.where, self.line = kind, detail, where, line
        at = f"{where} line {line}" if line else where
        super().__init__(f"{kind}: {at + ': ' if at else ''}{detail}")


@dataclass
class Template:
    """One stored version. parts: channel -> locale -> part -> Jinja source."""

    name: str
    version: int
    parts: dict
    sample: dict = field(default_factory=dict)
    description: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def locale_chain(locale: str | None) -> list[str]:
    """`pt_BR` / `pt-BR` -> ["pt-BR", "pt", "default"]."""
    chain = []
    if locale:
        pieces = locale.replace("_", "-").split("-")
        pieces = [pieces[0].lower()] + [p.upper() if len(p) == 2 else p for p in pieces[1:]]
        chain = ["-".join(pieces[:n]) for n in range(len(pieces), 0, -1)]
    return chain + [DEFAULT_LOCALE]


def part_name(channel: str, part: str, locale: str) -> str:
    return f"{channel}.{part}" + ("" if locale == DEFAULT_LOCALE else f".{locale}")


def part_names(channel: str) -> tuple[str, ...]:
    """The parts a channel's templates may have, as its ChannelSpec declares them."""
    return tuple(p.name for p in spec_of(channel).parts)


def part_spec(channel: str, part: str) -> TemplatePart:
    return spec_of(channel).part(part) or TemplatePart(part)


def channel_sources(template: Template, channel: str, locale: str | None) -> list[tuple[str, str]]:
    """[(part, locale)] for every part the channel has, each from the first locale in the fallback
    chain that defines it."""
    by_locale = template.parts.get(channel) or {}
    if not by_locale:
        raise RenderError("no_parts", f"template {template.ref} has no {channel} parts")
    chain = locale_chain(locale)
    names = part_names(channel)
    found = ((part, next((loc for loc in chain if part in by_locale.get(loc, {})), None)) for part in names)
    return [(part, loc) for part, loc in found if loc is not None]


class Renderer:
    """Renders in this process and thread. The router, the gateway and the CLI render through
    router/render_pool.py, whose worker processes each run one of these."""

    def __init__(self, max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES, max_render_s: float = DEFAULT_MAX_RENDER_S,
                 compiled_cache: int = 512):
        self.max_output_bytes = max_output_bytes
        self.max_render_s = max_render_s  # per part
        self._envs = {escaping: TemplateSandbox(max_output_bytes, escaping=escaping)
                      for escaping in ESCAPINGS}
        self._compiled: OrderedDict[tuple[str, str, str], Compiled] = OrderedDict()
        self._compiled_cache = compiled_cache

    def compile(self, source: str, channel: str, part: str, where: str = "") -> Compiled:
        if len(source) > self.max_output_bytes:
            raise RenderError("template_too_large", f"the part's source is {len(source):,} characters, over the "
                              f"{self.max_output_bytes:,}-byte output cap", where)
        env = self._envs[part_spec(channel, part).escape or "none"]
        try:
            return env.from_string(source)
        except TemplateSyntaxError as exc:
            raise RenderError("syntax_error", exc.message or str(exc), where, exc.lineno) from None
        except Exception as exc:  # e.g. an integer literal longer than Python parses
            raise RenderError("syntax_error", f"{type(exc).__name__}: {exc}", where) from None

    def render_channel(self, template: Template, channel: str, locale: str | None, context: dict) -> dict:
        """{part: rendered} for every part the channel has (see channel_sources). JSON parts come
        back parsed."""
        return {part: self.render_part(template, channel, part, found, context)
                for part, found in channel_sources(template, channel, locale)}

    def render_many(self, requests: list[tuple[Template, str, str | None, dict]]) -> list[dict | RenderError]:
        """render_channel for each (template, channel, locale, context): its parts or its error."""
        results: list[dict | RenderError] = []
        for template, channel, locale, context in requests:
            try:
                results.append(self.render_channel(template, channel, locale, context))
            except RenderError as exc:
                results.append(exc)
        return results

    def render_part(self, template: Template, channel: str, part: str, locale: str, context: dict) -> Any:
        where = f"{template.name}/{part_name(channel, part, locale)}"
        return self.render_source(channel, part, template.parts[channel][locale][part], context, where)

    def render_source(self, channel: str, part: str, source: str, context: dict, where: str = "") -> Any:
        """One part from its Jinja source; compiled templates are kept (least recently used out)."""
        key = (channel, part, source)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = self.compile(source, channel, part, where)
            if len(self._compiled) > self._compiled_cache:
                self._compiled.popitem(last=False)
        else:
            self._compiled.move_to_end(key)
        text = self._run(compiled, context, where)
        kind = part_spec(channel, part).kind
        if kind == "one_line":
            text = _LINE_BREAKS.sub(" ", text).strip()
        if kind == "json":
            try:
                document = json.loads(text)
            except ValueError as exc:
                raise RenderError("invalid_json", f"rendered text is not JSON ({exc}); use |tojson for values",
                                  where) from None
            if part == "blocks" and not isinstance(document, list):
                raise RenderError("invalid_json", "Slack blocks must render to a JSON array", where)
            return document
        return text

    def _run(self, compiled: Compiled, context: dict, where: str) -> str:
        """Stream the output and stop at the cap, so a runaway loop never builds the whole string
        (counted in characters while streaming, a lower bound of the bytes, then in bytes), and
        stop when the time budget is spent."""
        chunks, size = [], 0
        env = compiled.environment
        try:
            with env.time_budget(self.max_render_s):
                for chunk in compiled.generate(context):
                    env.check_time()
                    size += len(chunk)
                    if size > self.max_output_bytes:
                        raise OutputTooLarge(f"output exceeds {self.max_output_bytes} bytes")
                    chunks.append(chunk)
            text = "".join(chunks)
            if size * 4 > self.max_output_bytes and len(text.encode()) > self.max_output_bytes:
                raise OutputTooLarge(f"output exceeds {self.max_output_bytes} bytes")
        except UndefinedError as exc:
            raise RenderError("missing_variable", str(exc), where, _template_line(exc)) from None
        except SecurityError as exc:
            raise RenderError("sandbox_violation", str(exc), where, _template_line(exc)) from None
        except OutputTooLarge as exc:
            raise RenderError("output_too_large", str(exc), where, _template_line(exc)) from None
        except MemoryError:
            raise RenderError("output_too_large", "the render ran out of memory", where) from None
        except RenderTooSlow as exc:
            raise RenderError("render_too_slow", str(exc), where, _template_line(exc)) from None
        except Exception as exc:  # a template can raise anything a filter raises (TypeError, ...)
            raise RenderError("render_error", f"{type(exc).__name__}: {exc}", where, _template_line(exc)) from None
        return text


def _template_line(exc: BaseException) -> int | None:
    """Jinja rewrites tracebacks so template frames carry the template's own line numbers."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def template_context(data: dict, recipient: dict, event: dict) -> dict:
    """What a template sees: the event's data at the top level, plus `recipient` and `notification`."""
    return {**data,
            "recipient": {**{k: recipient.get(k) for k in ("id", "email", "phone", "slack", "locale", "timezone")},
                          "addresses": dict(recipient.get("addresses") or {})},
            "notification": {"id": str(event["id"]), "category": event["category"], "source": event["source"],
                             "tenant": event["tenant"], "priority": event["priority"].lower()}}
