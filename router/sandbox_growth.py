"""How far each Jinja2 filter and str method can grow what it is given, for the template sandbox
(router/sandbox.py): estimated from the arguments, so an oversized result is refused unbuilt."""
from __future__ import annotations

import functools
import inspect
from collections import abc
from typing import Any, Callable

from jinja2.filters import make_attrgetter
from jinja2.sandbox import SecurityError
from markupsafe import Markup

from router.sandbox_bounds import ESCAPE_GROWTH, check_int, printf_size, printed_size, refuse

# A debugging aid whose output grows with nesting depth, not only size: not offered to templates.
WITHHELD_FILTERS = frozenset({"pprint"})
# Filters that print their input: a container must be small enough to print before they run.
_PRINTING = frozenset({"capitalize", "center", "e", "escape", "forceescape", "format", "indent", "lower", "replace",
                       "safe", "string", "striptags", "title", "tojson", "trim", "truncate", "upper", "urlencode",
                       "urlize", "wordcount", "wordwrap", "xmlattr"})


def _case_changed(value: Any, limit: int) -> int:
    # Only non-ASCII letters can grow when their case changes ("ß".upper() == "SS"), by 3 at most.
    return len(value) if isinstance(value, str) and value.isascii() else 3 * printed_size(value, limit)


def _html_escaped(value: Any, limit: int) -> int:
    if not isinstance(value, str):
        return ESCAPE_GROWTH * printed_size(value, limit)
    return len(value) + 4 * sum(value.count(c) for c in "&\"'") + 3 * sum(value.count(c) for c in "<>")


def _url_quoted(value: Any, limit: int) -> int:
    return 3 * len(value.encode()) if isinstance(value, str) else 12 * printed_size(value, limit)


# Filters whose output size follows from their input alone: (value, limit) -> size.
_GROWTH: dict[str, Callable[[Any, int], int]] = {
    "e": _html_escaped, "escape": _html_escaped, "forceescape": _html_escaped,
    "xmlattr": lambda value, limit: ESCAPE_GROWTH * printed_size(value, limit),
    "upper": _case_changed, "lower": _case_changed, "title": _case_changed, "capitalize": _case_changed,
    "urlencode": _url_quoted}


def _number(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _text_size(value: Any, limit: int) -> int:
    return printed_size(value, limit) if value is not None else 0


def _lines(text: Any, size: int) -> int:
    return (text.count("\n") if isinstance(text, str) else size) + 1


def _replace_size(text: Any, old: Any, new: Any, count: Any, limit: int) -> int:
    size = printed_size(text, limit)
    if isinstance(text, str) and isinstance(old, str) and old:
        occurrences = text.count(old)
    else:
        occurrences = size + 1  # "" matches between every two characters
    if isinstance(count, int) and count >= 0:
        occurrences = min(occurrences, count)
    old_size = len(old) if isinstance(old, str) else 0
    return size + occurrences * max(printed_size(new, limit) - old_size, 0)


def _joined_size(items: list, separator: Any, limit: int) -> int:
    total = _text_size(separator, limit) * max(len(items) - 1, 0)
    for item in items:
        total += printed_size(item, limit)
        if total > limit:
            break
    return total


def _materialised(value: Any) -> list | tuple:
    return value if isinstance(value, (list, tuple)) else list(value)


# --- filters whose growth depends on their arguments: (bound arguments, limit) -> size ---

def _center(a: dict, limit: int) -> int:
    return max(printed_size(a["value"], limit), _number(a["width"]))


def _indent(a: dict, limit: int) -> int:
    size = printed_size(a["s"], limit)
    width = len(a["width"]) if isinstance(a["width"], str) else _number(a["width"])
    return size + _lines(a["s"], size) * width


def _wordwrap(a: dict, limit: int) -> int:
    size = printed_size(a["s"], limit)
    wrap = _text_size(a["wrapstring"], limit) or 1
    return size + (size // max(_number(a["width"]), 1) + _lines(a["s"], size)) * wrap


def _replace(a: dict, limit: int) -> int:
    return _replace_size(a["s"], a["old"], a["new"], a["count"], limit)


def _join(a: dict, limit: int) -> int:
    items = a["value"] = _materialised(a["value"])  # a generator is read once, here, and passed on as a list
    if a["attribute"] is not None:
        items = list(map(make_attrgetter(a["eval_ctx"].environment, a["attribute"]), items))
    growth = ESCAPE_GROWTH if hasattr(a["d"], "__html__") else 1  # a Markup separator escapes the items
    return growth * _joined_size(items, a["d"], limit)


def _batch(a: dict, limit: int) -> int:
    return printed_size(a["value"], limit) + _number(a["linecount"]) * _text_size(a["fill_with"], limit)


def _slice(a: dict, limit: int) -> int:
    return printed_size(a["value"], limit) + _number(a["slices"]) * _text_size(a["fill_with"], limit)


def _sum(a: dict, limit: int) -> int:
    # Adding lists or strings one by one copies the total each time (quadratic): numbers only.
    if not isinstance(a["start"], (int, float)):
        raise SecurityError("|sum adds numbers only")
    return 0


def _truncate(a: dict, limit: int) -> int:
    return min(printed_size(a["s"], limit), _number(a["length"])) + _text_size(a["end"], limit) + \
        _number(a["leeway"])


def _format(a: dict, limit: int) -> int:
    template = a["value"] if isinstance(a["value"], str) else str(a["value"])  # printable: checked already
    growth = ESCAPE_GROWTH if isinstance(template, Markup) else 1
    return growth * printf_size(template, a["kwargs"] or a["args"], limit)


def _tojson(a: dict, limit: int) -> int:
    indent = len(a["indent"]) if isinstance(a["indent"], str) else _number(a["indent"])
    return printed_size(a["value"], limit) * ESCAPE_GROWTH * (1 + indent)


def _urlize(a: dict, limit: int) -> int:
    size = printed_size(a["value"], limit)
    words = (a["value"].count(" ") + _lines(a["value"], size)) if isinstance(a["value"], str) else size
    return 3 * size + words * (_text_size(a["target"], limit) + _text_size(a["rel"], limit) + 64)


_ESTIMATES: dict[str, Callable[[dict, int], int]] = {
    "center": _center, "indent": _indent, "wordwrap": _wordwrap, "replace": _replace, "join": _join,
    "batch": _batch, "slice": _slice, "sum": _sum, "truncate": _truncate, "format": _format, "tojson": _tojson,
    "urlize": _urlize}


def check_result(result: Any, given: Any, limit: int, what: str) -> None:
    """A result may be larger than the cap only when it is no larger than what it was made from
    (a filter passing a large data value through)."""
    if isinstance(result, int):
        check_int(result, what)
        return
    if isinstance(result, str):
        size = len(result)
    elif isinstance(result, (list, tuple, abc.Mapping)):
        size = printed_size(result, limit)
    else:
        return
    if size > limit and size > printed_size(given, size):
        refuse(size, limit, what)


def guard_filters(filters: dict, limit: int, check_time: Callable[[], None]) -> dict:
    """Every filter, wrapped so that its result's size is checked before it is built."""
    return {name: _guard(name, function, limit, check_time) for name, function in filters.items()
            if name not in WITHHELD_FILTERS}


def _guard(name: str, function: Callable, limit: int, check_time: Callable[[], None]) -> Callable:
    estimate, growth = _ESTIMATES.get(name), _GROWTH.get(name)
    signature = inspect.signature(function) if estimate is not None else None
    skip = 1 if getattr(function, "jinja_pass_arg", None) is not None else 0  # eval_ctx / environment / context
    prints = name in _PRINTING

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        check_time()
        value = args[skip] if len(args) > skip else None
        if prints and not isinstance(value, str):
            refuse(printed_size(value, limit), limit, f"printing the value given to |{name}")
        if growth is not None:
            refuse(growth(value, limit), limit, f"|{name}")
        if signature is not None:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:
                return function(*args, **kwargs)  # the filter's own error about its arguments
            bound.apply_defaults()
            refuse(estimate(bound.arguments, limit), limit, f"|{name}")
            args, kwargs = bound.args, bound.kwargs
        result = function(*args, **kwargs)
        check_result(result, value, limit, f"|{name}")
        return result
    return guarded


# --- str (and bytes, Markup) methods called from templates ---

def _str_method_size(text: Any, name: str, args: tuple, kwargs: dict, limit: int) -> tuple[int, tuple]:
    """(estimated size of the result, the arguments to call with) for a method of `text`."""
    size = len(text)
    if name in ("center", "ljust", "rjust", "zfill"):
        return max(size, _number(args[0] if args else kwargs.get("width"))), args
    if name == "expandtabs":
        tab = _number(args[0] if args else kwargs.get("tabsize", 8))
        return size + text.count("\t" if isinstance(text, str) else b"\t") * tab, args
    if name == "replace" and len(args) >= 2:
        count = args[2] if len(args) > 2 else kwargs.get("count", -1)
        return _replace_size(text, args[0], args[1], count, limit), args
    if name == "join" and len(args) == 1:
        items = _materialised(args[0])
        return _joined_size(items, text, limit), (items,)
    if name == "translate" and args and isinstance(args[0], abc.Mapping):
        largest = max((printed_size(v, limit) for v in args[0].values()), default=1)
        return size * max(largest, 1), args
    if name in ("upper", "lower", "casefold", "swapcase", "title", "capitalize"):
        return size if text.isascii() else 3 * size, args
    if name in ("encode", "hex"):
        return 4 * size, args
    if name in ("split", "rsplit", "splitlines", "partition", "rpartition"):
        return 5 * size, args
    return 0, args


def method_call_size(method: Any, args: tuple, kwargs: dict, limit: int) -> tuple[int, tuple]:
    """For a bound method of a str, bytes or Markup: its result's estimated size and the arguments
    to call it with (a generator given to `join` is read here into a list). (0, args) otherwise."""
    owner = getattr(method, "__self__", None)
    if isinstance(owner, int) and getattr(method, "__name__", "") == "to_bytes":
        return _number(args[0] if args else kwargs.get("length", 1)), args
    if not isinstance(owner, (str, bytes)):
        return 0, args
    size, args = _str_method_size(owner, getattr(method, "__name__", ""), args, kwargs, limit)
    return size * (ESCAPE_GROWTH if isinstance(owner, Markup) else 1), args
