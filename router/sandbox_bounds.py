"""Size arithmetic for the template sandbox (router/sandbox.py): how large a value prints, and how
large a format, a filter or a str method would make its result, computed before it allocates."""
from __future__ import annotations

import re
import string
from collections import abc
from typing import Any, Callable

from jinja2.sandbox import SandboxedFormatter
from jinja2.utils import Namespace
from markupsafe import EscapeFormatter, Markup

# Integers a template may compute: 4096 bits (1,233 digits). Larger ones cost quadratic time to
# multiply or print, and no notification needs them.
MAX_INT_BITS = 4096
# How much longer than its text a value may print: quotes and escapes (repr), HTML entities.
ESCAPE_GROWTH = 6
_OTHER_OBJECT = 64  # a callable, a range, a generator...: printed as a short <...> repr


class OutputTooLarge(Exception):
    """A rendered part, or an intermediate value, would exceed the output cap."""


def refuse(size: float, limit: int, what: str) -> None:
    if size > limit:
        raise OutputTooLarge(f"{what} would be about {int(size):,} characters, over the {limit:,}-byte output cap")


def printed_size(value: Any, limit: int) -> int:
    """About how many characters `str(value)` has, counting a value that appears many times (as in
    `[big] * 1000`) once per appearance. Stops counting a little past `limit`, so it is cheap."""
    return _size(value, limit, {})


def _size(value: Any, limit: int, seen: dict[int, int]) -> int:
    if isinstance(value, str):
        return len(value)
    if value is None or isinstance(value, (bool, float)):
        return 24
    if isinstance(value, int):
        return value.bit_length() // 3 + 2
    if isinstance(value, (bytes, bytearray)):
        return 4 * len(value) + 3
    key = id(value)
    if key in seen:
        return seen[key]
    seen[key] = limit + 1  # a structure that contains itself prints forever
    if isinstance(value, Namespace):
        value = object.__getattribute__(value, "_Namespace__attrs")
    total = 2
    if isinstance(value, abc.Mapping):
        for k, v in value.items():
            total += _size(k, limit, seen) + _size(v, limit, seen) + 6
            if total > limit:
                break
    elif isinstance(value, (list, tuple, abc.Set, abc.KeysView, abc.ValuesView, abc.ItemsView)):
        for item in value:
            total += _size(item, limit, seen) + 4
            if total > limit:
                break
    else:
        total = _OTHER_OBJECT
    seen[key] = total
    return total


def check_int(value: Any, what: str) -> None:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise OutputTooLarge(f"{what} would be an integer of {value.bit_length():,} bits, over {MAX_INT_BITS}")


def int_result_bits(operator: str, left: Any, right: Any) -> int:
    """The size in bits an integer `*` or `**` would produce (0 when not both integers)."""
    if not (isinstance(left, int) and isinstance(right, int)):
        return 0
    if operator == "*":
        return left.bit_length() + right.bit_length()
    if right < 0 or abs(left) < 2:
        return 1
    return left.bit_length() * right


_SEQUENCES = (str, bytes, bytearray, list, tuple)


def sequence_size(operator: str, left: Any, right: Any, limit: int) -> int:
    """The printed size `+` or `*` would give strings, bytes, lists and tuples (0 for other operands)."""
    if operator == "+" and isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        growth = ESCAPE_GROWTH if isinstance(left, Markup) else 1  # Markup + str escapes the str
        return printed_size(left, limit) + growth * printed_size(right, limit)
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, _SEQUENCES) and isinstance(times, int):
                return printed_size(seq, limit) * max(times, 0)
    return 0


# --- printf-style formatting: `'%5s' % x` and the `format` filter ---

_PRINTF = re.compile(r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d*))?[hlL]?"
                     r"(?P<type>[diouxXeEfFgGcrsa%])")


def printf_size(template: str, values: Any, limit: int) -> int:
    """An upper estimate of `len(template % values)`; widths and precisions over `limit`, literal
    or given by `*`, are refused before anything is formatted."""
    mapping = values if isinstance(values, abc.Mapping) else None
    positional = list(values) if isinstance(values, tuple) else ([] if mapping is not None else [values])
    total = len(template)
    for spec in _PRINTF.finditer(template):
        if spec["type"] == "%":
            continue
        width, precision = (_printf_number(spec[name], positional, limit) for name in ("width", "precision"))
        if spec["key"] is not None:
            value = mapping.get(spec["key"]) if mapping is not None else None
        else:
            value = positional.pop(0) if positional else values
        total += max(width, _field_size(value, spec["type"], precision, limit))
        if total > limit:
            break
    return total


def _printf_number(text: str | None, positional: list, limit: int) -> int:
    if text == "*":
        number = positional.pop(0) if positional else 0
        number = abs(number) if isinstance(number, int) else 0
    else:
        number = int(text) if text and len(text) <= 12 else (limit + 1 if text else 0)
    refuse(number, limit, "a format width or precision")
    return number


def _field_size(value: Any, kind: str, precision: int, limit: int) -> int:
    """Printed size of one formatted value: numbers by their digits and precision, text by its size."""
    if kind in ("s", "r", "a"):
        size = printed_size(value, limit) * (ESCAPE_GROWTH if kind in "ra" else 1)
        return min(size, precision) if precision and kind == "s" else size
    if kind == "c":
        return 1
    digits = printed_size(value, limit) if isinstance(value, int) else 320  # 1e308 has 309 digits
    return 2 * digits + precision + 8  # grouping separators, sign, exponent


# --- str.format and str.format_map ---

_FORMAT_SPEC = re.compile(r"[-+ ]?z?#?0?(?P<width>\d*)[_,]?(?:\.(?P<precision>\d+))?(?P<type>[a-zA-Z%]?)$", re.S)


class BoundedFormatter(SandboxedFormatter):
    """The sandbox's formatter, adding every field's size (widths and nested widths resolved) to a
    running total that may not pass the cap, before the field is formatted."""

    def __init__(self, env: Any, limit: int, literal_size: int, **kwargs: Any):
        super().__init__(env, **kwargs)
        self.limit, self.size = limit, literal_size

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion in ("r", "a", "s"):
            growth = ESCAPE_GROWTH if conversion != "s" else 1
            refuse(printed_size(value, self.limit) * growth, self.limit, f"a !{conversion} conversion")
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        self.size += format_field_size(value, format_spec, self.limit)
        refuse(self.size, self.limit, "a formatted string")
        return super().format_field(value, format_spec)


class BoundedEscapeFormatter(BoundedFormatter, EscapeFormatter):
    """For Markup.format: fields are HTML-escaped, so they may grow by the escape factor."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        self.size += (ESCAPE_GROWTH - 1) * format_field_size(value, format_spec, self.limit)
        return super().format_field(value, format_spec)


def format_field_size(value: Any, spec: str, limit: int) -> int:
    align = 2 if len(spec) >= 2 and spec[1] in "<>=^" else 1 if spec[:1] in ("<", ">", "=", "^") else 0
    match = _FORMAT_SPEC.match(spec[align:])
    if match is None:  # not a standard spec (str.format will refuse it): count the value alone
        return printed_size(value, limit)
    width, precision = (int(n) if len(n) <= 12 else limit + 1
                        for n in (match["width"] or "0", match["precision"] or "0"))
    refuse(max(width, precision), limit, "a format width or precision")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return max(width, _field_size(value, match["type"] or "g", precision, limit))
    return max(width, _field_size(value, "s", precision, limit))


def bounded_str_format(env: Any, method: Any, limit: int) -> Callable[..., str]:
    """A replacement for `'...'.format` / `.format_map` as the sandbox hands them to templates."""
    text: str = method.__self__
    is_format_map = method.__name__ == "format_map"

    def formatted(*args: Any, **kwargs: Any) -> str:
        if is_format_map:
            if kwargs or len(args) != 1:
                raise TypeError("format_map() takes exactly one argument")
            args, kwargs = (), args[0]
        if isinstance(text, Markup):
            formatter: string.Formatter = BoundedEscapeFormatter(env, limit, len(text), escape=text.escape)
        else:
            formatter = BoundedFormatter(env, limit, len(text))
        return type(text)(formatter.vformat(text, args, kwargs))

    return formatted
