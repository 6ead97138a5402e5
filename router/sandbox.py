"""The Jinja2 environment templates run in (router/templates.py): immutable sandbox, StrictUndefined,
sizes bounded before anything is built, a time budget checked at every step, escaping per part."""
from __future__ import annotations

import functools
import json
import threading
import time
import types
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

from jinja2 import StrictUndefined, nodes
from jinja2.compiler import CodeGenerator
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import pass_eval_context
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

from consumer.markup import MARKUP_ESCAPES, markdown_v2_escape, slack_escape
from router.sandbox_bounds import (ESCAPE_GROWTH, MAX_INT_BITS, OutputTooLarge, bounded_str_format, int_result_bits,
                                   printed_size, printf_size, refuse, sequence_size)
from router.sandbox_growth import check_result, guard_filters, method_call_size

__all__ = ["OutputTooLarge", "RenderTooSlow", "TemplateSandbox", "markdown_v2_escape", "slack_escape"]

_MAX_EXPONENT = 256
_MAX_RANGE = 10_000


class RenderTooSlow(Exception):
    """A render ran past its time budget."""


ESCAPINGS = ("none", "html", *MARKUP_ESCAPES)


def _escaped(value: Any, escape: Callable[[str], str]) -> Any:
    """Every string inside a value escaped, unless marked trusted (Markup, from |safe)."""
    if isinstance(value, Markup):
        return str(value)
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, dict):
        return {_escaped(k, escape): _escaped(v, escape) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escaped(v, escape) for v in value]
    return value


def _escaping_tojson(escape: Callable[[str], str]) -> Callable[..., Markup]:
    """|tojson in a markup part: the strings in the value are escaped for the markup, then dumped."""
    def tojson(value: Any, indent: int | str | None = None) -> Markup:
        return Markup(json.dumps(_escaped(value, escape), indent=indent, sort_keys=True))
    return tojson


class OutputBuffer(list):
    """Where a macro, `{% set %}` block, call or filter block collects its output: counted as it
    grows, so `concat` never joins more than the cap."""

    def __init__(self, limit: int, check_time):
        super().__init__()
        self.size, self.limit, self.check_time = 0, limit, check_time

    def append(self, text: str) -> None:
        self._grow(len(text))
        super().append(text)

    def extend(self, texts: Iterable[str]) -> None:
        texts = tuple(texts)
        self._grow(sum(len(t) for t in texts))
        super().extend(texts)

    def _grow(self, size: int) -> None:
        self.check_time()
        self.size += size
        refuse(self.size, self.limit, "a block's output")


class _BoundedCodeGenerator(CodeGenerator):
    def buffer(self, frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.output_buffer()")


class _Bounding(NodeTransformer):
    """Rewrites a parsed template so each loop checks the time budget at every item, and each list,
    tuple and dict literal and `~` concatenation is sized (a literal can repeat one big value)."""

    def visit_For(self, node: nodes.For) -> nodes.For:
        node = self.generic_visit(node)
        node.iter = _environment_call("paced", [node.iter], node.lineno)
        return node

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Expr:
        node = self.generic_visit(node)
        return node if node.ctx != "load" else _environment_call("bounded_literal", [node], node.lineno)

    def visit_List(self, node: nodes.Expr) -> nodes.Expr:
        return _environment_call("bounded_literal", [self.generic_visit(node)], node.lineno)

    visit_Dict = visit_List

    def visit_Concat(self, node: nodes.Concat) -> nodes.Expr:
        node = self.generic_visit(node)
        return _environment_call("concat_values", node.nodes, node.lineno)


def _environment_call(name: str, args: list, lineno: int) -> nodes.Call:
    return nodes.Call(nodes.EnvironmentAttribute(name, lineno=lineno), args, [], None, None, lineno=lineno)


class TemplateSandbox(ImmutableSandboxedEnvironment):
    """An immutable sandbox in which no value, call, operator, filter, format or block output can
    grow past `max_bytes`, checked on the sizes of the inputs before the result is built.

    The sandbox already refuses private and dunder attributes, unsafe callables, mutation of
    data and `str.format` attribute tricks; this adds the resource bounds it leaves open.
    `escaping`: "none", "html" (autoescape), or a markup of MARKUP_ESCAPES ("slack" for mrkdwn,
    "markdownv2" for Telegram): data escaped as it is printed, |safe trusted."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})
    code_generator_class = _BoundedCodeGenerator

    def __init__(self, max_bytes: int, *, escaping: str = "none"):
        if escaping not in ESCAPINGS:
            raise ValueError(f"escaping must be one of {ESCAPINGS}")
        self._markup_escape = MARKUP_ESCAPES.get(escaping)
        super().__init__(undefined=StrictUndefined, autoescape=escaping == "html", keep_trailing_newline=True,
                         finalize=self._finalize_markup if self._markup_escape else self._finalize)
        self.max_bytes = max_bytes
        self.concat = self._concat
        self.globals = {"range": self._range, "dict": dict, "namespace": self.globals["namespace"]}
        if self._markup_escape:
            self.filters["tojson"] = _escaping_tojson(self._markup_escape)
        self.filters = guard_filters(self.filters, max_bytes, self.check_time)
        self._deadline = threading.local()  # renders may run in several threads at once

    # --- the time budget ---

    @contextmanager
    def time_budget(self, seconds: float) -> Iterator[None]:
        """Renders in this thread raise RenderTooSlow once `seconds` have passed."""
        self._deadline.at, self._deadline.budget = time.monotonic() + seconds, seconds
        try:
            yield
        finally:
            self._deadline.at = None

    def check_time(self) -> None:
        at = getattr(self._deadline, "at", None)
        if at is not None and time.monotonic() > at:
            raise RenderTooSlow(f"rendering took longer than {self._deadline.budget:g} s")

    # --- hooks the compiled template calls (see _Bounding and _BoundedCodeGenerator) ---

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = _Bounding().visit(super()._parse(source, name, filename))
        tree.set_environment(self)
        return tree

    def paced(self, iterable: Iterable) -> Iterator:
        check_time = self.check_time
        for item in iterable:
            check_time()
            yield item

    def bounded_literal(self, value: Any) -> Any:
        refuse(printed_size(value, self.max_bytes), self.max_bytes, "a literal")
        return value

    @pass_eval_context
    def concat_values(self, eval_ctx, *values: Any) -> str:
        # With autoescape, one Markup operand makes the others HTML-escaped.
        escaping = eval_ctx.autoescape and any(hasattr(v, "__html__") for v in values)
        size = sum(printed_size(v, self.max_bytes) * (ESCAPE_GROWTH if escaping and not hasattr(v, "__html__") else 1)
                   for v in values)
        refuse(size, self.max_bytes, "a ~ concatenation")
        return markup_join(values) if eval_ctx.autoescape else str_join(values)

    def output_buffer(self) -> OutputBuffer:
        return OutputBuffer(self.max_bytes, self.check_time)

    def _concat(self, pieces: Iterable[str]) -> str:
        if isinstance(pieces, OutputBuffer):  # counted while it was filled
            return "".join(pieces)
        collected, size = [], 0
        for piece in pieces:
            size += len(piece)
            refuse(size, self.max_bytes, "a block's output")
            collected.append(piece)
        return "".join(collected)

    def _finalize(self, value: Any) -> Any:
        """Before `{{ value }}` is printed: a container must be small enough to print."""
        if not isinstance(value, str):
            refuse(printed_size(value, self.max_bytes), self.max_bytes, "printing this value")
        return value

    def _finalize_markup(self, value: Any) -> Any:
        value = self._finalize(value)
        return value if hasattr(value, "__html__") else self._markup_escape(str(value))

    # --- the sandbox's own hooks ---

    def getattr(self, obj: Any, attribute: str) -> Any:
        self.check_time()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.check_time()
        return super().getitem(obj, argument)

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        self.check_time()
        if operator == "**" and isinstance(right, int) and abs(right) > _MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is larger than {_MAX_EXPONENT}")
        bits = int_result_bits(operator, left, right)
        if bits > MAX_INT_BITS:
            raise OutputTooLarge(f"{operator} would make an integer of about {bits:,} bits, over {MAX_INT_BITS}")
        refuse(sequence_size(operator, left, right, self.max_bytes), self.max_bytes, f"{operator} on these values")
        if operator == "%" and isinstance(left, str):
            growth = ESCAPE_GROWTH if isinstance(left, Markup) else 1
            refuse(printf_size(left, right, self.max_bytes) * growth, self.max_bytes, "a % format")
        result = super().call_binop(context, operator, left, right)
        check_result(result, None, self.max_bytes, f"{operator} on these values")
        return result

    def call(__self, __context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (jinja's signature)
        __self.check_time()
        __obj = __self.wrap_str_format(__obj) or __obj  # a str.format reached some other way than an attribute
        plain = {k: v for k, v in kwargs.items() if k not in ("_loop_vars", "_block_vars")}
        size, args = method_call_size(__obj, args, plain, __self.max_bytes)
        name = getattr(__obj, "__name__", "this call")
        refuse(size, __self.max_bytes, f"{name}()")
        result = super().call(__context, __obj, *args, **kwargs)
        check_result(result, getattr(__obj, "__self__", None), __self.max_bytes, f"{name}()")
        return result

    def wrap_str_format(self, value: Any):
        """`'...'.format` and `.format_map`, with every field's width and size bounded."""
        if not isinstance(value, (types.MethodType, types.BuiltinMethodType)) \
                or value.__name__ not in ("format", "format_map") or not isinstance(value.__self__, str):
            return None
        return functools.update_wrapper(bounded_str_format(self, value, self.max_bytes), value)

    def _range(self, *args: int) -> range:
        result = range(*args)
        if len(result) > _MAX_RANGE:
            raise SecurityError(f"range of {len(result)} items is longer than {_MAX_RANGE}")
        return result
