"""The Jinja2 environment templates run in: immutable sandbox, StrictUndefined, and guards that
keep one template from allocating more than the output cap (`'x' * 10**9`, `|center(10**9)`) or
running past its time budget (nested loops that output nothing: checked at every call, attribute
or item lookup and output chunk; a loop that does none of these is bounded only by its data)."""
from __future__ import annotations

import functools
import re
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

_PERCENT_SPEC = re.compile(r"%[-#0 +]*(\d*)(?:\.(\d+))?")
_BRACE_SPEC = re.compile(r"\{[^{}]*?:([^{}]*)\}")
_NUMBER = re.compile(r"\d+")
_MAX_EXPONENT = 256
_MAX_RANGE = 10_000


class OutputTooLarge(Exception):
    """A rendered part, or an intermediate value, would exceed the output cap."""


class RenderTooSlow(Exception):
    """A render ran past its time budget."""


class TemplateSandbox(ImmutableSandboxedEnvironment):
    """An immutable sandbox in which every size-like argument is bounded by `max_bytes`.

    The sandbox already refuses private and dunder attributes, unsafe callables, mutation of
    data and `str.format` attribute tricks; this adds the resource bounds it leaves open."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, max_bytes: int, *, autoescape: bool):
        super().__init__(undefined=StrictUndefined, autoescape=autoescape, keep_trailing_newline=True)
        self.max_bytes = max_bytes
        self.globals = {"range": self._range, "dict": dict, "namespace": self.globals["namespace"]}
        self.filters = {name: self._guarded(f) for name, f in self.filters.items()}
        self._deadline = threading.local()  # renders run in the router's worker threads

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

    def getattr(self, obj: Any, attribute: str) -> Any:
        self.check_time()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.check_time()
        return super().getitem(obj, argument)

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        self.check_time()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) \
                        and len(seq) * times > self.max_bytes:
                    raise OutputTooLarge(f"repeating a value {times} times exceeds {self.max_bytes} bytes")
        if operator == "**" and isinstance(right, int) and abs(right) > _MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is larger than {_MAX_EXPONENT}")
        if operator == "%" and isinstance(left, str):
            self._check_format(left)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (jinja's signature)
        __self.check_time()
        __self._check_arguments(args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any):
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            self._check_format(value.__self__)
        return wrapped

    def _range(self, *args: int) -> range:
        result = range(*args)
        if len(result) > _MAX_RANGE:
            raise SecurityError(f"range of {len(result)} items is longer than {_MAX_RANGE}")
        return result

    def _guarded(self, function):
        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            self._check_arguments(args[1:], kwargs)  # the first argument is the value filtered
            return function(*args, **kwargs)
        return guarded

    def _check_arguments(self, args: tuple, kwargs: dict) -> None:
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) and value > self.max_bytes:
                raise OutputTooLarge(f"argument {value} exceeds the output cap of {self.max_bytes} bytes")

    def _check_format(self, text: str) -> None:
        """Widths and precisions in a format string (`%9s`, `{:>9}`) must stay under the cap."""
        numbers = [n for spec in _PERCENT_SPEC.findall(text) for n in spec if n]
        numbers += [n for spec in _BRACE_SPEC.findall(text) for n in _NUMBER.findall(spec)]
        for number in numbers:
            if len(number) > 9 or int(number) > self.max_bytes:
                raise OutputTooLarge(f"format width {number[:12]} exceeds the output cap of {self.max_bytes} bytes")
