"""Many rows inserted or updated in one batch, handed to the database driver itself.

A fast path kept because target (a) of bench/README.md needs it: `reminder import` at
most 10x the sqlite3 shell's .import. An import writes every agreement, its event and
its supersession state, and converting every parameter of every row through
SQLAlchemy's statements was most of an import's time in the store. Measured one after
the other on the same 2-core machine, 1,000,000 rows (bench/portfolio.py), SQLite:
the floor 17.3 s; with this module 116.6 s (6.7x); with SQLAlchemy's Core `insert()`
and the ORM's bulk `update()` executed with a list of parameter dictionaries (and the
import's temporary table of identities, as now) 182.9 s (10.6x, target missed). At
100,000 rows SQLAlchemy's statements alone cost 2.5 s more CPU per import (about +25%).

Here each value is converted for the driver by its column's type, as SQLAlchemy would
convert it (its own bind processor for the dialect), but once per distinct value in
the batch and without a parameter dictionary per row. A driver whose parameter style
is not positional gets SQLAlchemy's statements instead. A test holds what this stores
to what SQLAlchemy's insert stores, on every database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Dialect, Executable, Table, insert, update
from sqlalchemy.orm import Session

from reminder.store.models import Base

# How a driver's paramstyle writes a positional parameter.
_POSITIONAL_MARKERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def insert_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert `rows`, tuples of values in `columns` order, into `table` in one batch."""

    def statement(table_name: str, quoted: Sequence[str], marker: str) -> str:
        markers = ", ".join(marker for _ in quoted)
        # Names only, quoted by the dialect; the values are bound (see `_write`).
        return f"INSERT INTO {table_name} ({', '.join(quoted)}) VALUES ({markers})"  # noqa: S608

    _write(session, table, columns, rows, statement, fallback=insert(table))


def update_by_id(
    session: Session, model: type[Base], columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Set `columns` of `model`'s rows by id: each of `rows` is (*values, id); one batch."""

    def statement(table_name: str, quoted: Sequence[str], marker: str) -> str:
        *values, key = quoted
        settings = ", ".join(f"{name} = {marker}" for name in values)
        return f"UPDATE {table_name} SET {settings} WHERE {key} = {marker}"  # noqa: S608

    # SQLAlchemy's fallback is the ORM's update by primary key, given the id with the values.
    _write(session, model.__table__, (*columns, "id"), rows, statement, fallback=update(model))


def _write(
    session: Session,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    statement: Callable[[str, Sequence[str], str], str],
    *,
    fallback: Executable,
) -> None:
    """Run `statement` once for all `rows` (values in `columns` order), through the driver.

    `statement` writes the SQL from the quoted table name, the quoted `columns` and the
    driver's positional marker: only our own names (quoted by the dialect) enter the
    text, every value is a bound parameter. A driver taking named parameters gets
    `fallback`, SQLAlchemy's statement, with a dictionary per row instead.
    """
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    marker = _POSITIONAL_MARKERS.get(dialect.paramstyle)
    if marker is None:
        session.execute(fallback, [dict(zip(columns, row, strict=True)) for row in rows])
        return
    preparer = dialect.identifier_preparer
    sql = statement(
        preparer.format_table(table), [preparer.quote(name) for name in columns], marker
    )
    connection.exec_driver_sql(sql, _converted(dialect, table, columns, rows))


def _converted(
    dialect: Dialect, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """Return `rows` (values in `columns` order) as the column types hand them to the driver."""
    # Converted column by column: a column repeats few distinct values (dates, enums,
    # the one `now`), so most conversions are a dictionary hit.
    values_by_column = list(zip(*rows, strict=True))
    for index, name in enumerate(columns):
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            values_by_column[index] = tuple(
                map(_Remembered(processor).__getitem__, values_by_column[index])
            )
    return list(zip(*values_by_column, strict=True))


class _Remembered(dict[Any, Any]):
    """value -> converted value, calling the conversion once per distinct value."""

    def __init__(self, convert: Callable[[Any], Any]) -> None:
        super().__init__()
        self._convert = convert

    def __missing__(self, value: Any) -> Any:
        converted = self[value] = self._convert(value)
        return converted
