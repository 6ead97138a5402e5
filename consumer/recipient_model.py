"""A recipient as the contract models see one: inside a notification (`recipient`: an id, addresses
inline, locale, timezone) and as a directory record (`tidings recipients upsert`, PUT /v1/recipients,
stored by router/recipients.py). Built once per process from the channel registry.

Addresses come as `addresses` (channel -> address) or, as before the map, as the per-channel fields
(email, phone, slack, webhook_url). The directory checks each with its channel's spec and keeps it
normalised (a phone number in E.164); a notification's are checked by the channel when it sends."""
from __future__ import annotations

import functools
import re
from typing import Annotated, Any, Callable

from pydantic import AfterValidator, BaseModel, Field, create_model, model_validator

from consumer.channel_specs import AddressInvalid, legacy_fields, registry
from consumer.contracts import (CONTROL_CHARACTER, TIMEZONE, ContractModel, NullableText, Text, check_timezone,
                                expecting, non_empty, refusal, single_line)
from consumer.text_rules import SINGLE_LINE, flaw

_LOCALE = re.compile(r"^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


def _locale(value: str) -> str:
    if not _LOCALE.match(value):
        raise refusal("locale", f"{value!r} is not a locale like pt-BR")
    return value


class AddressMap(ContractModel):
    """Channel name -> address: one field per channel, named by the channel (an alias: a channel's
    name need not be a Python identifier)."""

    @model_validator(mode="before")
    @classmethod
    def _clean_names(cls, value: Any) -> Any:
        for name in value if isinstance(value, dict) else ():
            if isinstance(name, str) and (problem := flaw(name, SINGLE_LINE)):
                raise refusal(CONTROL_CHARACTER, problem)
        return value

    @classmethod
    def unknown_message(cls, unknown: list[str], known: tuple[str, ...]) -> str:
        return f"{unknown[0]!r} is not a channel (known: {', '.join(known)})"


def _address_map(title: str, address: Callable[[str], Any]) -> type[AddressMap]:
    fields = {f"channel_{index}": (address(spec.name) | None, Field(None, alias=spec.name, description=spec.address))
              for index, spec in enumerate(registry().values())}
    return create_model(title, __base__=AddressMap, **fields)


def _checked_by(channel: str) -> Any:
    """The directory's address for `channel`: text checked and normalised by the channel's spec."""
    def check(value: str) -> str:
        try:
            return registry()[channel].check_address(value)
        except AddressInvalid as exc:
            raise refusal("invalid_address", str(exc)) from None
    return Annotated[NullableText, AfterValidator(check)]


def _legacy(address: Callable[[str], Any]) -> dict[str, Any]:
    return {field: (address(channel) | None, Field(None, description=f"the {channel} address, as before `addresses`"))
            for field, channel in legacy_fields().items()}


@functools.cache
def notification_recipient_model() -> type[BaseModel]:
    """`recipient` in a notification: addresses are any non-empty text here (the channel judges
    them when it sends, as it does for events from any producer)."""
    addresses = _address_map("Addresses", lambda channel: Text)
    return create_model(
        "Recipient", __base__=ContractModel,
        id=(Text, Field(description="who the notification is for: the key of their directory record, "
                                    "preferences and ordering")),
        addresses=(Annotated[addresses, expecting("expected an object, channel name -> address")] | None,
                   Field(None, description="channel -> address; a channel left out takes the directory's")),
        **_legacy(lambda channel: Text),
        locale=(Text | None, Field(None, description="picks the template's translation (pt-BR, then pt, then the "
                                                     "default)")),
        timezone=(Annotated[Text, AfterValidator(check_timezone)] | None, Field(None, description=TIMEZONE)))


def _directory_fields() -> dict[str, Any]:
    addresses = _address_map("DirectoryAddresses", _checked_by)
    return {"addresses": (Annotated[addresses, expecting("expected an object, channel name -> address (or null to "
                                                         "remove it)")] | None,
                          Field(None, description="channel -> address; null removes one, a channel left out "
                                                  "keeps its address")),
            **_legacy(_checked_by),
            "locale": (Annotated[NullableText, AfterValidator(_locale)] | None,
                       Field(None, description="a locale like pt-BR: picks the template's translation")),
            "timezone": (Annotated[NullableText, AfterValidator(check_timezone)] | None,
                         Field(None, description=TIMEZONE))}


@functools.cache
def recipient_fields_model() -> type[BaseModel]:
    """A directory record's fields but the id (PUT /v1/recipients/{id} names it in the path): a
    field left out keeps what is stored, null clears it."""
    return create_model("RecipientFields", __base__=ContractModel, **_directory_fields())


@functools.cache
def directory_record_model() -> type[BaseModel]:
    """One record of `tidings recipients upsert`: the id and the fields to set."""
    record_id = Annotated[str, non_empty("required, a non-empty string"), AfterValidator(single_line)]
    return create_model("RecipientRecord", __base__=DirectoryRecord, id=(record_id, Field(description="the recipient's id")),
                        **_directory_fields())


class DirectoryRecord(ContractModel):
    required = {"id": "required, a non-empty string"}


def given_fields(model: BaseModel) -> dict[str, Any]:
    """The fields an input named, by their JSON names, with their validated values (None for a
    null: for the directory, a field to clear)."""
    fields = type(model).model_fields
    return {fields[name].alias or name: getattr(model, name) for name in model.model_fields_set}
