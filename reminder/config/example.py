"""The commented example config and the Markdown reference, both written from the schema.

`reminder config example` prints the first (config.example.toml is its output) and
`reminder config reference` the second (docs/configuration.md); tests compare both
files with what these functions return, so the schema stays their only source.
"""

from __future__ import annotations

import textwrap
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from reminder.config.effective import toml_value
from reminder.config.fields import Check
from reminder.config.keys import Key, keys_of, table_model
from reminder.config.schema import Config
from reminder.config.sections import Coordinator

WIDTH = 88

EXAMPLE_HEADER = """\
reminder: example configuration, written from the schema by `reminder config example`.

Copy to /etc/reminder/config.toml (or name it with --config / $REMINDER_CONFIG). Every
key is optional. A key set to its default shows the default; a commented-out key shows
an example for one whose default depends on where reminder runs, or that is unset. A
value marked "# example" is not the default: with those, this file drives the README's
quick start, routing the sample table's partners to two coordinators and writing mail
to an outbox folder. Unknown keys are errors, so a typo never passes silently. Relative
paths are taken from the folder this file is in. `reminder config check` shows the
effective settings.
"""


def _comment(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH - 2, initial_indent="# ", subsequent_indent="# ")


def _extra(field: FieldInfo) -> dict[str, Any]:
    extra = field.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def _example(field: FieldInfo) -> Any:
    return field.examples[0] if field.examples else None


def default_text(field: FieldInfo) -> str:
    """Return the default of `field` as a reader sees it."""
    text = _extra(field).get("default_text")
    if isinstance(text, str):
        return text
    if field.default is None:
        return "unset"
    return toml_value(list(field.default) if isinstance(field.default, tuple) else field.default)


def _has_literal_default(field: FieldInfo) -> bool:
    return field.default is not None and "default_text" not in _extra(field)


# --- the example config --------------------------------------------------------------


def example_config() -> str:
    """Return the commented example configuration (the text of config.example.toml)."""
    lines = [line.rstrip() for line in _comment_block(EXAMPLE_HEADER)][:-1]
    for key in keys_of(Config):
        model = table_model(key.field.annotation)
        if model is None:
            lines += ["", *_key_lines(key)]
        elif key.name == "coordinators":
            lines += ["", *_coordinator_lines(key)]
        else:
            lines += ["", f"[{key.name}]", *_comment(model.__doc__ or ""), ""]
            for inner in keys_of(model):
                lines += _key_lines(inner)
    return "\n".join(lines) + "\n"


def _comment_block(text: str) -> Iterator[str]:
    for paragraph in text.split("\n\n"):
        yield from _comment(" ".join(paragraph.split()))
        yield "#"


def _key_lines(key: Key) -> list[str]:
    field = key.field
    lines = _comment(field.description or "")
    if _extra(field).get("in_example_config"):
        lines += _comment(f"Default: {default_text(field)}.")
        return [*lines, f"{key.name} = {toml_value(_example(field))}  # example"]
    if _has_literal_default(field):
        return [*lines, f"{key.name} = {default_text(field)}"]
    if "default_text" in _extra(field):
        lines += _comment(f"Default: {default_text(field)}.")
    return [*lines, f"# {key.name} = {toml_value(_example(field))}"]


def _coordinator_lines(key: Key) -> list[str]:
    lines = _comment(key.field.description or "")
    lines += _comment("The two below are examples; by default there are none.")
    for index, entry in enumerate(_example(key.field)):
        lines += ["[[coordinators]]"] if index == 0 else ["", "[[coordinators]]"]
        for inner in keys_of(Coordinator):
            if index == 0:
                lines += _comment(inner.field.description or "")
            if inner.name in entry:  # a later example may leave a key to its default
                lines.append(f"{inner.name} = {toml_value(entry[inner.name])}")
    return lines


# --- the reference ---------------------------------------------------------------------

REFERENCE_HEADER = """\
# Configuration reference

Every key of the config file, its type, default and meaning. This page is written from
the schema (`reminder/config/`) by `reminder config reference > docs/configuration.md`;
a test fails when it and the schema disagree, so change the schema, not this page.

The config file is TOML. reminder reads the file named by `--config`, else
`$REMINDER_CONFIG`, else `$CONFIGURATION_DIRECTORY/config.toml` (systemd), else
`/etc/reminder/config.toml`; with none, the built-in defaults. Unknown keys are errors,
and every problem is reported at once, each naming its key
(`config.toml: at 'reminders.windows[1]': must be 1 to 3660, got -3`).
`reminder config check` prints the effective configuration with secrets redacted, and
`reminder config example` a commented example (`config.example.toml`).
"""


def reference() -> str:
    """Return the Markdown reference of every key (the text of docs/configuration.md)."""
    lines = [REFERENCE_HEADER.rstrip(), "", "## Top level"]
    tables: list[Key] = []
    for key in keys_of(Config):
        if table_model(key.field.annotation) is None:
            lines += _reference_entry(key.name, key.field)
        else:
            tables.append(key)
    for key in tables:
        model = table_model(key.field.annotation)
        assert model is not None
        brackets = f"[[{key.name}]]" if key.name == "coordinators" else f"[{key.name}]"
        lines += ["", f"## `{brackets}`", "", " ".join((model.__doc__ or "").split())]
        if key.field.description:
            lines += ["", key.field.description]
        for inner in keys_of(model):
            lines += _reference_entry(f"{key.name}.{inner.name}", inner.field)
    return "\n".join(lines) + "\n"


def _reference_entry(path: str, field: FieldInfo) -> list[str]:
    lines = ["", f"### `{path}`", "", field.description or "", ""]
    lines.append(f"- Type: {describe_type(field.annotation, field.metadata)}")
    lines.append(f"- Default: {_code(default_text(field), literal=_has_literal_default(field))}")
    example = _example(field)
    if example is not None and path != "coordinators":
        lines.append(f"- Example: `{toml_value(example)}`")
    return lines


def _code(text: str, *, literal: bool) -> str:
    return f"`{text}`" if literal else text


_KIND_NAMES = {str: "string", int: "whole number", float: "number", bool: "true or false"}


def describe_type(annotation: Any, metadata: list[Any] | tuple[Any, ...] = ()) -> str:
    """Return a field's type as a reader says it: "list of whole number (1 to 3660)"."""
    if typing.get_origin(annotation) is typing.Annotated:
        inner, *more = typing.get_args(annotation)
        return describe_type(inner, [*more, *metadata])
    allows = [
        item.func.allows for item in metadata if isinstance(getattr(item, "func", None), Check)
    ]
    arguments = typing.get_args(annotation)
    if type(None) in arguments:
        present = [argument for argument in arguments if argument is not type(None)]
        return describe_type(present[0], metadata)
    if typing.get_origin(annotation) is tuple:
        text = f"list of {describe_type(arguments[0])}"
    elif typing.get_origin(annotation) is dict:
        text = f"table of {describe_type(arguments[0])} = {describe_type(arguments[1])}"
    elif annotation is Path:
        text = "path (a relative one is taken from the config file's folder)"
    elif isinstance(annotation, type) and issubclass(annotation, Coordinator):
        text = "table"
    else:
        text = _KIND_NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))
    return f"{text} ({'; '.join(allows)})" if allows else text
