"""A small declarative schema for TOML documents that reports every problem at once.

Each problem names the key path (`reminders.windows[2]`), so a user can find it in the
file. We keep this tiny rather than pull in a validation framework: the config is a
few dozen keys, and the messages are what matters.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: A check returns None when the value is fine, else a short reason.
Check = Callable[[Any], str | None]

_TYPE_NAMES: dict[type, str] = {
    str: "a string",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


@dataclass(frozen=True)
class Value:
    """A scalar key: its type, an optional check, and its default (None: no default)."""

    kind: type | tuple[type, ...]
    default: Any = None
    check: Check | None = None


@dataclass(frozen=True)
class ListOf:
    """A list whose every item matches `item`; `check` sees the whole list."""

    item: Value
    default: tuple[Any, ...] | None = ()
    check: Check | None = None


@dataclass(frozen=True)
class Table:
    """A table with known keys; any other key is an error."""

    keys: Mapping[str, Node]
    check: Check | None = None


@dataclass(frozen=True)
class ArrayOfTables:
    """`[[name]]` entries, each a Table."""

    table: Table


Node = Value | ListOf | Table | ArrayOfTables


@dataclass
class Validation:
    """The outcome of `validate`: the document with defaults filled in, and all problems."""

    data: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def validate(document: Mapping[str, Any], schema: Table) -> Validation:
    """Check `document` against `schema`.

    Returns a Validation whose `data` has every key of the schema (defaults where the
    document had none) and whose `problems` lists one line per problem, each starting
    with the key path. Never raises for bad input.
    """
    result = Validation()
    result.data = _table(document, schema, "", result.problems)
    return result


def _describe(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)


def _is_kind(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is a subclass of int in Python; `windows = [true]` must not pass as a number.
    if isinstance(value, bool) and bool not in kinds:
        return False
    if isinstance(value, int) and float in kinds:
        return True
    return isinstance(value, kinds)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _table(value: Any, schema: Table, path: str, problems: list[str]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        problems.append(f"at '{path}': expected a table, got {_shown(value)}")
        value = {}
    out: dict[str, Any] = {}
    for key in value:
        if key not in schema.keys:
            hint = difflib.get_close_matches(key, list(schema.keys), n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
            problems.append(f"at '{_join(path, key)}': unknown key{suggestion}")
    for key, node in schema.keys.items():
        key_path = _join(path, key)
        if key in value:
            out[key] = _node(value[key], node, key_path, problems)
        else:
            out[key] = _default(node)
    if schema.check is not None and not problems:
        reason = schema.check(out)
        if reason:
            problems.append(f"at '{path or '(top level)'}': {reason}")
    return out


def _default(node: Node) -> Any:
    if isinstance(node, Value):
        return node.default
    if isinstance(node, ListOf):
        return None if node.default is None else list(node.default)
    if isinstance(node, Table):
        return _table({}, node, "", [])
    return []


def _node(value: Any, node: Node, path: str, problems: list[str]) -> Any:
    if isinstance(node, Table):
        return _table(value, node, path, problems)
    if isinstance(node, ArrayOfTables):
        if not isinstance(value, list):
            problems.append(f"at '{path}': expected [[{path}]] entries, got {_shown(value)}")
            return []
        return [_table(item, node.table, f"{path}[{i}]", problems) for i, item in enumerate(value)]
    if isinstance(node, ListOf):
        if not isinstance(value, list):
            problems.append(f"at '{path}': expected a list, got {_shown(value)}")
            return _default(node)
        before = len(problems)
        items = [_scalar(item, node.item, f"{path}[{i}]", problems) for i, item in enumerate(value)]
        if node.check is not None and len(problems) == before:
            reason = node.check(items)
            if reason:
                problems.append(f"at '{path}': {reason}")
        return items
    return _scalar(value, node, path, problems)


def _scalar(value: Any, node: Value, path: str, problems: list[str]) -> Any:
    if not _is_kind(value, node.kind):
        problems.append(f"at '{path}': expected {_describe(node.kind)}, got {_shown(value)}")
        return node.default
    if node.check is not None:
        reason = node.check(value)
        if reason:
            problems.append(f"at '{path}': {reason}")
            return node.default
    return value


def _shown(value: Any) -> str:
    kind = type(value)
    name = _TYPE_NAMES.get(kind, kind.__name__)
    if isinstance(value, str | int | float | bool):
        return f"{name} {value!r}"
    return name
