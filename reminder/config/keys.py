"""The keys of the config file as the schema defines them, table by table.

The file's names differ from the models' attributes in two ways: a key may have an
alias (`[mail] from` is `MailConfig.sender`), and a password source is four flat keys
of its table (`[smtp] password_file`) held in one SecretRef.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from reminder.config.schema import Config
from reminder.config.secrets import SecretRef


@dataclass(frozen=True)
class Key:
    """One key of a table: its name in the file and the field that defines it."""

    name: str
    field: FieldInfo


def file_name(attribute: str, field: FieldInfo) -> str:
    """Return the name of `attribute`'s key in the file."""
    alias = field.validation_alias
    return alias if isinstance(alias, str) else attribute


def table_model(annotation: Any) -> type[BaseModel] | None:
    """Return the model a field's type holds (directly, in a tuple or optional), or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = table_model(argument)
        if found is not None:
            return found
    return None


def keys_of(model: type[BaseModel]) -> Iterator[Key]:
    """Yield the keys a table of `model` may hold, in the schema's order.

    A SecretRef field yields its four keys in its place; a nested table (a section of
    Config) yields its own name.
    """
    for attribute, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, SecretRef):
            for inner, inner_field in annotation.model_fields.items():
                yield Key(file_name(inner, inner_field), inner_field)
        else:
            yield Key(file_name(attribute, field), field)


def table_at(path: tuple[str | int, ...]) -> type[BaseModel] | None:
    """Return the model of the table at `path` (as in an error's location), or None."""
    model: type[BaseModel] | None = Config
    for part in path:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        fields = {file_name(name, field): field for name, field in model.model_fields.items()}
        if part not in fields:
            return None
        model = table_model(fields[part].annotation)
    return model


def all_keys() -> dict[str, list[str]]:
    """Return every table's path ("" for the top level) and the names of its keys."""
    tables: dict[str, list[str]] = {}

    def visit(prefix: str, model: type[BaseModel]) -> None:
        tables[prefix] = []
        for key in keys_of(model):
            tables[prefix].append(key.name)
            inner = table_model(key.field.annotation)
            if inner is not None and not issubclass(inner, SecretRef):
                visit(f"{prefix}.{key.name}" if prefix else key.name, inner)

    visit("", Config)
    return tables
