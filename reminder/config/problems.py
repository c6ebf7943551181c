"""pydantic's validation errors as our problem lines: `at 'reminders.windows[1]': must
be 1 to 3660, got -3`, with did-you-mean for unknown keys, also across tables.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import ValidationError

from reminder.config.keys import all_keys, table_at
from reminder.config.secrets import SecretRef

#: What a value of each kind is called in a message.
_KINDS = {
    "string_type": "a string",
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "path_type": "a string",
}
_SHOWN = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}


def problem_lines(error: ValidationError) -> Iterator[str]:
    """Yield one line per problem in `error`, each starting with the key's path."""
    for detail in error.errors(include_url=False):
        location = _file_location(detail["loc"])
        yield f"at '{_path(location) or '(top level)'}': {_reason(detail, location)}"


def _file_location(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Return `loc` as the file has it: a SecretRef's keys sit flat in their table."""
    for index in range(len(loc)):
        model = table_at(loc[: index + 1])
        if model is not None and issubclass(model, SecretRef):
            return loc[:index] + loc[index + 1 :]
    return loc


def _path(location: tuple[str | int, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def _reason(detail: Mapping[str, Any], location: tuple[str | int, ...]) -> str:
    kind = detail["type"]
    value = detail["input"]
    if kind == "extra_forbidden":
        return f"unknown key{_suggestion(location)}"
    if kind == "missing":
        return "is required"
    if kind == "value_error":
        return str(detail.get("ctx", {}).get("error", detail["msg"]))
    if kind in _KINDS:
        return f"expected {_KINDS[kind]}, got {_shown(value)}"
    message = str(detail["msg"])
    return message[:1].lower() + message[1:]


def _shown(value: Any) -> str:
    name = _SHOWN.get(type(value))
    if name is not None:
        return f"{name} {value!r}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _suggestion(location: tuple[str | int, ...]) -> str:
    """Return " (did you mean '...'?)" for an unknown key, or ""."""
    key = str(location[-1])
    table = ".".join(str(part) for part in location[:-1] if isinstance(part, str))
    tables = all_keys()
    close = difflib.get_close_matches(key, tables.get(table, []), n=1)
    if close:
        return f" (did you mean '{close[0]}'?)"
    elsewhere = [
        f"{other}.{key}" if other else key
        for other, names in tables.items()
        if other != table and key in names
    ]
    return f" (did you mean '{elsewhere[0]}'?)" if elsewhere else ""
