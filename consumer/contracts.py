"""The contract model layer's common ground: the base of every model of what Tidings accepts (the
notification JSON, the recipient directory, each channel's options), its shared field types, and
pydantic's errors told the way every entrance reports them, "field.path: what is wrong"."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from consumer.text_rules import SINGLE_LINE, flaw

# The error types a caller tells apart: a character a field's rule refuses (the gateway answers 400
# for it, like malformed JSON), and names a model does not declare.
CONTROL_CHARACTER = "control_character"
UNKNOWN_FIELDS = "unknown_fields"
# Validation context under which names a model does not declare are dropped instead of refused.
IGNORE_UNKNOWN = {"unknown_fields": "ignore"}


def refusal(kind: str, message: str) -> PydanticCustomError:
    """A validation error of type `kind` whose message is `message` as written (without a context,
    pydantic formats no placeholders, so a value quoted in it may hold braces)."""
    return PydanticCustomError(kind, message)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


class ContractModel(BaseModel):
    """Refuses names it does not declare, listing them and the known ones ("unknown field(s): colour
    (known: id, ...)"); the JSON Schema says the same with additionalProperties: false.
    `required`: fields whose absence (or null) a message of their own tells, rather than "required"."""

    model_config = ConfigDict(extra="forbid")
    required: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, value: Any, info) -> Any:
        if not isinstance(value, dict):
            return value
        known = cls.field_names()
        unknown = [name for name in value if name not in known]
        if unknown:
            if not (info.context and info.context.get("unknown_fields") == "ignore"):
                raise refusal(UNKNOWN_FIELDS, cls.unknown_message([str(name) for name in unknown], known))
            value = {name: item for name, item in value.items() if name in known}
        for name, what in cls.required.items():
            if value.get(name) is None:  # the field's own message, at the field (first_problem)
                raise PydanticCustomError("required", what, {"field": name})
        return value

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The names the JSON form uses (an alias where the Python name differs, as for `from`)."""
        if (names := _FIELD_NAMES.get(cls)) is None:  # asked on every validation: made once per model
            names = _FIELD_NAMES[cls] = tuple(field.alias or name for name, field in cls.model_fields.items())
        return names

    @classmethod
    def unknown_message(cls, unknown: list[str], known: tuple[str, ...]) -> str:
        return f"unknown field(s): {', '.join(sorted(unknown))} (known: {', '.join(known) or 'none'})"


@dataclass(frozen=True)
class Problem:
    """The first thing wrong with an input: where, what (for people), and its error type (for code)."""

    path: str
    what: str
    kind: str

    def __str__(self) -> str:
        return f"{self.path}: {self.what}" if self.path else self.what


# The types that say more than the rest, first: unknown names (as before the models existed, they
# are reported before anything else), then characters a field refuses.
_RANK = {UNKNOWN_FIELDS: 0, CONTROL_CHARACTER: 1}
_PLAIN = {"missing": "required", "dict_type": "expected a JSON object", "model_type": "expected a JSON object",
          "model_attributes_type": "expected a JSON object", "list_type": "expected a list",
          "string_type": "expected a string", "bool_type": "expected true or false",
          "int_type": "expected an integer", "extra_forbidden": "unknown field"}


def first_problem(error: ValidationError, prefix: str = "") -> Problem:
    """The error to report of all pydantic found, with its path ("content.email.options.cc[1]")."""
    errors = error.errors(include_url=False)
    chosen = min(range(len(errors)), key=lambda i: (_RANK.get(errors[i]["type"], 2), i))
    found = errors[chosen]
    loc = (*found["loc"], found["ctx"]["field"]) if found["type"] == "required" else found["loc"]
    return Problem(path_of(loc, prefix), _what(found), found["type"])


def path_of(loc: Iterable[Any], prefix: str = "") -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif re.fullmatch(r"[\w-]+", str(part)):
            path += f".{part}" if path else str(part)
        else:  # a key a path should not print as it is (a dot, a space, a control character)
            path += f"[{str(part)!r}]"
    return path


def _what(error: dict) -> str:
    if error["type"] in _PLAIN:
        return _PLAIN[error["type"]]
    message = error["msg"].removeprefix("Value error, ").replace("Input should be ", "expected ", 1)
    return message[:1].lower() + message[1:]


def non_empty(what: str) -> BeforeValidator:
    """Text that is not blank; `what` is the message for anything else."""
    def check(value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            raise refusal("text", what)
        return value
    return BeforeValidator(check)


def expecting(what: str, kind: type = dict) -> BeforeValidator:
    """A field's own message for a value of the wrong JSON type ("expected an object, ...")."""
    def check(value: Any) -> Any:
        if value is not None and not isinstance(value, kind):
            raise refusal("type", what)
        return value
    return BeforeValidator(check)


def single_line(value: str) -> str:
    """A name or an address: no control character at all (consumer/text_rules.py, SINGLE_LINE)."""
    if problem := flaw(value, SINGLE_LINE):
        raise refusal(CONTROL_CHARACTER, problem)
    return value


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise refusal("timezone", f"{value!r} is not an IANA time zone like Europe/Lisbon") from None
    return value


# A non-empty string (not only spaces); the schema says minLength 1.
Text = Annotated[str, non_empty("expected a non-empty string"), Field(min_length=1)]
# A field of the directory, where null clears one: the message says so. No control character either.
NullableText = Annotated[str, non_empty("expected a non-empty string or null"), AfterValidator(single_line),
                         Field(min_length=1)]
TIMEZONE = "an IANA time zone (Europe/Lisbon): quiet hours and dates in templates"
