"""A channel's options (`content.<channel>.options`) as a pydantic model in channels/<name>/options.py,
named by its ChannelSpec: the entrances validate them with it, and the provider reads them through it.

At an entrance a name the model does not declare is refused (a typo like `reply-to` would otherwise
be ignored in silence). A provider ignores such names: a `content.default` entry's options go to
every channel without an entry of its own, so they may hold names meant for another channel."""
from __future__ import annotations

import functools
import json
from typing import Any, ClassVar, TypeVar

from pydantic import ConfigDict, ValidationError

from consumer.contracts import IGNORE_UNKNOWN, ContractModel, first_problem
from consumer.outcomes import Permanent


class ChannelOptions(ContractModel):
    """The base of every channel's options model: no coercion (a number is not a string), unknown
    names refused at the entrances. `error_classes`: the error types of the model's own checks that
    are outcome error classes of their own (header_injection, ...); any other refusal is the
    channel's invalid-options class."""

    model_config = ConfigDict(extra="forbid", strict=True)
    error_classes: ClassVar[frozenset[str]] = frozenset()


Options = TypeVar("Options", bound=ChannelOptions)


@functools.cache
def _no_options(model: type[Options]) -> Options:
    return model()


def read_options(model: type[Options], raw: str | None, error_class: str = "invalid_options") -> Options | Permanent:
    """A channel message's options (JSON text) through the channel's model, or the Permanent outcome
    naming the field the model refuses ("cc[1]: contains a line break or NUL")."""
    if not raw or raw == "{}":  # most messages: skip the parse
        return _no_options(model)
    try:
        value: Any = json.loads(raw)
    except (TypeError, ValueError, RecursionError):
        return Permanent(error_class, "options is not JSON")
    if not isinstance(value, dict):
        return Permanent(error_class, "options is not a JSON object")
    try:
        return model.model_validate(value, context=IGNORE_UNKNOWN)
    except ValidationError as exc:
        problem = first_problem(exc)
        kind = problem.kind if problem.kind in model.error_classes else error_class
        return Permanent(kind, str(problem)[:500])
